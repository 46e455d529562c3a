"""The ``emo2`` Typer app and the single error path (DESIGN §8).

``main()`` turns every :class:`~emo2cli.errors.Emo2Error` into one line on stderr and its exit
code (2 for bad input or a missing prerequisite), usage errors into exit 2, and anything else
into exit 1 with a one-line summary (the traceback only with ``--debug``).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Annotated

import typer

from emo2cli import __version__
from emo2cli.cli import console
from emo2cli.errors import Emo2Error

try:  # typer >= 0.20 vendors its own click; older releases use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

app = typer.Typer(
    name="emo2",
    help="Portrait + speech → talking video with co-speech hand gestures (EMO2 method).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (command name, module under emo2cli.cli, function, help panel). Modules import torch only
# inside their command bodies, so `emo2 --help` stays fast.
COMMANDS: list[tuple[str, str, str, str]] = [
    ("presets", "presets", "presets", "Environment"),
    ("weights", "weights", "weights", "Environment"),
    ("bench", "bench", "bench", "Environment"),
    ("inspect", "inspect_cmd", "inspect_file", "Files"),
    ("edit-hands", "edit_hands", "edit_hands", "Files"),
    ("import-hands", "import_hands", "import_hands", "Files"),
    ("export-hands", "export_hands", "export_hands", "Files"),
    ("extract-audio", "extract_audio", "extract_audio", "Pipeline"),
    ("gen-hands", "gen_hands", "gen_hands", "Pipeline"),
    ("render-hands", "render_hands", "render_hands", "Pipeline"),
    ("gen-video", "gen_video", "gen_video", "Pipeline"),
    ("track-hands", "track_hands", "track_hands", "Pipeline"),
    ("batch", "batch_cmd", "batch", "Pipeline"),
    ("train-hands", "train", "train_hands", "Training"),
    ("train-fgd", "train_fgd", "train_fgd", "Training"),
    ("prepare-video", "prepare_video", "prepare_video", "Training"),
    ("train-video", "train_video", "train_video", "Training"),
]
SUBAPPS: list[tuple[str, str, str]] = [  # (name, module, attribute holding a typer.Typer)
    ("evaluate", "evaluate", "app"),
    ("convert-weights", "convert_weights", "app"),
]


def _version(value: bool) -> None:
    if value:
        print(f"emo2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Portrait + speech → talking video with co-speech hand gestures (EMO2 method)."""


def _register() -> None:
    for name, module, func, panel in COMMANDS:
        mod = importlib.import_module(f"emo2cli.cli.{module}")
        # A module may set CONTEXT_SETTINGS (e.g. edit-hands reads its options in typed order).
        app.command(name, rich_help_panel=panel, context_settings=getattr(mod, "CONTEXT_SETTINGS", None))(getattr(mod, func))
    for name, module, attr in SUBAPPS:
        mod = importlib.import_module(f"emo2cli.cli.{module}")
        app.add_typer(getattr(mod, attr), name=name)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to ``sys.exit``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="emo2", standalone_mode=False)
    except Emo2Error as e:
        if debug:
            traceback.print_exc()
        console.stderr.print(f"error: {e}", markup=False, style="red", soft_wrap=True)
        return e.exit_code
    except typer.Abort:
        console.stderr.print("aborted", markup=False)
        return 130
    except click_exceptions.ClickException as e:  # usage errors: bad option, missing argument
        e.show()
        return 2
    except KeyboardInterrupt:
        console.stderr.print("interrupted", markup=False)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into exit 1
        if debug:
            traceback.print_exc()
        console.stderr.print(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", markup=False, style="red", soft_wrap=True)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
