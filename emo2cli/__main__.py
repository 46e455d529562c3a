"""``python -m emo2cli`` (also ``accelerate launch -m emo2cli ...``)."""

import sys

from emo2cli.cli.main import main

sys.exit(main())
