"""The command table of ``python -m hms``: every command, in the order ``--help`` lists them. Each module declares
its commands (name, arguments, run) next to the work they start; a new command is one :class:`Command` in one of
them (or a new module listed here)."""

from hms.commands import clip, data, explain, package, signal, training
from hms.commands.common import Command

COMMANDS: list[Command] = [
    *data.COMMANDS,
    *signal.COMMANDS,
    *training.COMMANDS,
    *explain.COMMANDS,
    *clip.COMMANDS,
    *package.COMMANDS,
]

__all__ = ["COMMANDS", "Command"]
