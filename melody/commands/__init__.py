"""One module per `melody` subcommand: `add_parser(subparsers)` and `run(args) -> int`."""
