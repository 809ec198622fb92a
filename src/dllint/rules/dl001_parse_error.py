from dllint.rules.base import Rule


class ParseError(Rule):
    """
    ## What it does
    Reports a file that dllint could not read as Python: a syntax error (CPython's own
    parser is the judge, with its message), bytes that are not valid in the file's encoding,
    a NUL byte, a notebook whose JSON is malformed, or a file that vanished or cannot be read
    while the run was going on. It also reports a file whose analysis could not finish: one
    that used up its time budget (a CPU-time budget that grows with the file's size), or one
    on which the parser or dllint itself crashed. Every other file of the run is still checked.

    ## Why is this bad?
    A file that does not parse (or whose analysis did not finish) was not checked, so none of
    the other rules looked at it. Reporting it as a finding (instead of crashing, or skipping
    it silently) keeps the rest of the run going and makes the gap visible in CI.

    ## Example
    ```python
    def forward(self, x)
        return self.fc(x)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return self.fc(x)
    ```

    ## References
    - [Python language reference: lexical analysis](https://docs.python.org/3/reference/lexical_analysis.html)
    """

    code = "DL001"
    name = "parse-error"
    summary = "The file could not be parsed"
    needs_torch = False

    def check(self, sem):
        return ()  # the engine reports parse errors itself: there is no syntax tree to check
