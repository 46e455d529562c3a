"""The ``emo2`` command line: one thin module per command (parse, call the library, print)."""
