"""The ``ros-ssl`` command line: one subcommand per stage."""
