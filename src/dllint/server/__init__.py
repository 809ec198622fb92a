"""``dllint server``: a language server for editors (LSP over stdio).

Importing this package imports neither pygls nor the linter: ``dllint --help`` lists the
command without paying for it, and pygls is needed only when the server runs.
"""

from __future__ import annotations

import click

INSTALL_HINT = "pip install 'dllint[server]'"


@click.command("server", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the server's log (protocol messages, errors) to this file.")
def server_command(log_file: "str | None") -> None:
    """Run the language server (LSP over stdin/stdout) for editors.

    Diagnostics as you type (cross-file, honouring pyproject.toml and # noqa), quick fixes,
    "add # noqa", fix-all on save and the rule's explanation on hover. Editor set-up:
    https://dllint.readthedocs.io/en/latest/editors/
    """
    try:
        from dllint.server.lsp import start
    except ImportError as error:
        click.echo(f"error: `dllint server` needs pygls and lsprotocol ({error}): {INSTALL_HINT}", err=True)
        raise SystemExit(2) from None
    if log_file:
        import logging

        logging.basicConfig(filename=log_file, level=logging.DEBUG,
                            format="%(asctime)s %(threadName)s %(name)s %(levelname)s: %(message)s")
    start()
