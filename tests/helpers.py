"""Small helpers shared by the test modules."""

from stylert import cli


def cli_error(capsys, argv):
    """Runs the CLI, expects exit 2 with exactly one `stylert: error:` line; returns it."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stylert: error:"), err
    return err
