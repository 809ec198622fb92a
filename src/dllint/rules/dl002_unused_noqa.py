from dllint.rules.base import Rule


class UnusedNoqa(Rule):
    """
    ## What it does
    Reports a `# noqa: DLxxx` comment that silences nothing on its line: the code it names
    is not reported there (any more), or is not a dllint code at all. Codes of other tools
    (`# noqa: F401`) and bare `# noqa` comments are left alone. It also reports a
    `# dllint: disable=...` comment that names a code which is no dllint rule (nor a prefix
    of one). While this rule is off, unknown codes in both are printed as warnings.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line, and it tells readers a
    problem exists where none does. Like ruff's `RUF100`, this rule is off by default:
    enable it in CI once a codebase's suppressions are in order.

    ## Example
    ```python
    import torch.nn as nn

    layer = nn.Conv2d(3, 16, kernel_size=3, padding=1)  # noqa: DL203
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    layer = nn.Conv2d(3, 16, kernel_size=3, padding=1)
    ```

    ## References
    - [ruff: unused-noqa (RUF100)](https://docs.astral.sh/ruff/rules/unused-noqa/)
    """

    code = "DL002"
    name = "unused-noqa"
    summary = "A `noqa` directive that suppresses nothing"
    default_enabled = False
    needs_torch = False

    def check(self, sem):
        return ()  # decided by the engine once every other rule (and the project index) has spoken
