"""One line per error, whatever the error holds."""

from sts_lab.errors import first_line


def test_first_line_of_an_error():
    assert first_line(RuntimeError("cannot connect\nDETAIL: ...")) == "cannot connect"
    assert first_line(ValueError("")) == "ValueError"  # an empty message: its type, not an IndexError
    assert first_line(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert first_line("  ") == "(no message)"
    assert first_line(OSError("postgresql://sts:secret@db/sts refused")) == "postgresql://sts:***@db/sts refused"
