"""melody's terminal UI (Textual): compose and train screens over the same API as the CLI."""
