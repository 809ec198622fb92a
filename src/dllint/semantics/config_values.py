"""Values from configuration, and objects with named fields.

Real code rarely writes ``nn.Dropout(0.9)``: the number comes from a command-line option
(``parser.add_argument("--dropout", type=float, default=0.9)`` → ``args.dropout``), a config
object (``cfg = Config(); cfg.dropout`` for a dataclass, a ``NamedTuple``, a plain class with
class attributes, a ``SimpleNamespace``/``EasyDict``), or a constant. This module gives those
values to the evaluator:

* :class:`ConfigValue` — a constant that is a configuration default, with where it is set
  (``--dropout``, ``Config.dropout``) and whether the user can override it without editing the
  code (a command-line option). It *is* a :class:`~dllint.semantics.values.Constant`: layer
  arguments fold to it and conditions decide on it (the default configuration is the one the
  code runs when nobody passes the option), and a finding that depends on it says so.
* :class:`Parser` — an ``argparse.ArgumentParser`` being built: its options and their
  defaults. ``parse_args()`` gives a :class:`Record` of them. An option with ``choices=``, a
  ``required`` one, or one without a default is unknown (the value is chosen per run).
* :class:`Record` — an object with named fields: an argparse namespace, a ``SimpleNamespace``
  or ``EasyDict`` config, or a model's output record (``SequenceClassifierOutput(logits=...)``,
  an output class of another file built with tensors). ``out.logits`` / ``out["logits"]`` /
  ``cfg.dropout`` read its fields.
* Instances of a dataclass, ``NamedTuple`` or plain class of the file without ``__init__`` hold
  their fields (class-level defaults and the arguments of the call), and a class attribute
  (``expansion = 4``, ``class Config: dropout = 0.9``) is read through the class or its
  instances, unless the file assigns it (``Config.dropout = ...``).

A record or config object handed to a function dllint cannot follow (``init_distributed(args)``,
``cfg.merge_from_file(path)``, ``vars(args).update(...)``) may have been changed there: its
defaults are forgotten from then on.

Across files, a file's values travel as small picklable *facts* in its summary
(:func:`exported_values`); a file that looks up an imported name the index has a fact for is
analysed again with it (:meth:`ConfigMixin._imported`, ``FileSemantics.externals``).
:func:`output_field` and :func:`record_fields` serve the model outputs that travel in records.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterator, Optional

import libcst as cst

from dllint.semantics.constants import UNKNOWN, literal_value
from dllint.semantics.scopes import ClassInfo
from dllint.semantics.values import (
    ClassRef,
    Constant,
    Container,
    Instance,
    Reference,
    Tensor,
    Unknown,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator


class ConfigValue(Constant):
    """A constant that is a configuration default.

    source: how the code names it (``--dropout``, ``Config.dropout``)
    overridable: the user sets it without editing the code (a command-line option); else it
                 is the value the code runs with (a config class's default)
    setting: the value as configured (``value`` is computed from it: ``1 - args.keep_prob``)
    """

    __slots__ = ("source", "overridable", "setting")

    def __init__(self, value: Any, source: str, overridable: bool, setting: Any = UNKNOWN) -> None:
        super().__init__(value)
        self.source = source
        self.overridable = overridable
        self.setting = value if setting is UNKNOWN else setting

    def describe(self) -> str:
        """``with the default `--dropout 0.9``` / ``with `Config.dropout = 0.9```."""
        if self.overridable and isinstance(self.setting, bool):
            return f"with `{self.source}` {'on' if self.setting else 'off'} (the default)"
        shown = _shown(self.setting)
        if self.overridable:
            return f"with the default `{self.source} {shown}`"
        return f"with `{self.source} = {shown}`"

    def as_condition(self) -> str:
        """``--no-bn` is off (the default)``: the setting a condition was decided by."""
        shown = ("on" if self.setting else "off") if isinstance(self.setting, bool) else _shown(self.setting)
        return f"`{self.source}` is {shown} (the default)"

    def derived(self, value: Any) -> "ConfigValue":
        """A value computed from this one (``1 - args.keep_prob``): the same provenance."""
        return ConfigValue(value, self.source, self.overridable, self.setting)


def user_choice(value: Value) -> bool:
    """A command-line option's default: a run may pick any other value (``MODELS[args.arch]``
    is any model the dict holds, not only the default's)."""
    return isinstance(value, ConfigValue) and value.overridable


def config_source(*values: Any) -> Optional[ConfigValue]:
    """The first configuration default among the values, if any."""
    for value in values:
        if isinstance(value, ConfigValue):
            return value
    return None


class Parser(Value):
    """An ``argparse.ArgumentParser``: dest → the option's value after ``parse_args()`` (a
    :class:`ConfigValue` of its default, whose ``source`` is the flag that sets it, or unknown)."""

    __slots__ = ("node", "options", "complete")

    def __init__(self, node: Optional[cst.CSTNode]) -> None:
        self.node = node
        self.options: dict[str, Value] = {}
        # False once options may exist that dllint did not see (sub-commands, unknown parents)
        self.complete = True


class Record(Value):
    """An object with named fields.

    kind: namespace (``parse_args()``) | config (``SimpleNamespace``, ``EasyDict``) |
          output (a model output record)
    order: the field names by position, when the record is also a tuple (None otherwise)
    complete: every field it has is in ``fields`` (a missing one is an error, not unknown)
    """

    __slots__ = ("kind", "qualified", "node", "fields", "order", "complete")

    def __init__(
        self,
        kind: str,
        qualified: Optional[str],
        node: Optional[cst.CSTNode],
        fields: dict[str, Value],
        order: Optional[list[str]] = None,
        complete: bool = True,
    ) -> None:
        self.kind = kind
        self.qualified = qualified
        self.node = node
        self.fields = fields
        self.order = order
        self.complete = complete

    def field(self, name: str) -> Value:
        if name == "__dict__":
            return self
        return self.fields.get(name) or Unknown()

    def forget(self) -> None:
        """Something dllint cannot follow may have changed it: its values are no longer known."""
        for name in self.fields:
            self.fields[name] = Unknown()
        self.complete = False


_PARSER = "argparse.ArgumentParser"
_CONFIG_CLASSES = frozenset({
    "types.SimpleNamespace", "argparse.Namespace", "easydict.EasyDict", "addict.Dict", "addict.addict.Dict",
    "munch.Munch", "box.Box", "ml_collections.ConfigDict", "ml_collections.config_dict.ConfigDict",
})
_DATACLASS_DECORATORS = frozenset({
    "dataclasses.dataclass", "attr.s", "attr.attrs", "attr.define", "attr.frozen", "attr.mutable",
    "attrs.define", "attrs.frozen", "attrs.mutable", "pydantic.dataclasses.dataclass", "flax.struct.dataclass",
    "chex.dataclass",
})
_RECORD_BASES = frozenset({"typing.NamedTuple", "typing_extensions.NamedTuple", "pydantic.BaseModel"})
# Calls that only read what they are given (printing, logging, serialising): a record passed
# to them keeps its values. Anything else dllint does not follow may change it.
_READING_FUNCTIONS = frozenset({
    "builtins.print", "builtins.str", "builtins.repr", "builtins.len", "builtins.getattr", "builtins.hasattr",
    "builtins.isinstance", "builtins.format", "builtins.id", "builtins.type", "builtins.sorted", "builtins.dict",
    "builtins.list", "builtins.tuple", "copy.copy", "copy.deepcopy",
})
_READING_MODULES = ("logging.", "json.", "yaml.", "pprint.", "wandb.", "pickle.", "os.path.", "torch.save")
_READING_METHODS = frozenset({
    "info", "debug", "warning", "warn", "error", "critical", "exception", "print", "write", "log", "add_text",
    "format", "dump", "dumps", "save_hyperparameters", "log_hyperparams", "add_hparams", "append", "add",
})
# Read-only methods of a record.
_RECORD_READERS = frozenset({"get", "keys", "values", "items", "copy", "to_tuple", "_asdict", "to_dict", "__repr__"})


class ConfigState:
    """What the evaluator keeps about configuration in one file."""

    __slots__ = ("parsers", "reassigned", "stored", "wanted")

    def __init__(self) -> None:
        self.parsers: dict[int, Parser] = {}  # by id of the constructor call
        self.reassigned: dict[int, frozenset[str]] = {}  # by id of the class: attributes assigned through it
        self.stored: Optional[dict[str, set[str]]] = None  # attributes the file sets, by owner name
        self.wanted: set[str] = set()  # imported names looked up that another file may define


class ConfigMixin:
    """The evaluator's handling of configuration values and records (mixed into it)."""

    # calls --------------------------------------------------------------------------------

    def _config_call(self: "Evaluator", qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value],
                     node: cst.Call) -> Optional[Value]:
        """A call of a name from outside the file that builds a parser, a config object or a
        model output record; None for any other call (after forgetting the defaults of the
        records it is handed, unless it only reads them)."""
        if qualified == _PARSER:
            return self._parser(args, kwargs, node)
        fact = self.sem.externals.get(qualified)
        if fact is not None and fact[0] == "call":
            return value_of_fact(fact[1], f"{qualified}()")
        if qualified in _CONFIG_CLASSES:
            return _config_record(qualified, args, kwargs, node)
        if qualified == "builtins.vars" and args and isinstance(args[0], Record):
            return args[0]  # its ``__dict__``: the same fields (``vars(args).update(...)`` changes ``args``)
        if qualified == "builtins.setattr" and len(args) >= 3 and isinstance(args[0], Record):
            if isinstance(args[1], Constant) and isinstance(args[1].value, str):
                args[0].fields[args[1].value] = args[2]
            else:
                args[0].forget()
            return Constant(None)
        if _is_output_record(qualified, args, kwargs):
            return Record("output", qualified, node, {k: v for k, v in kwargs.items() if k != "**"}, None, "**" not in kwargs)
        if not _only_reads(qualified):
            _forget_passed(args, kwargs)
        return None

    def _config_method(self: "Evaluator", receiver: Value, name: str, args: tuple[Value, ...],
                       kwargs: dict[str, Value], node: cst.Call) -> Optional[Value]:
        """A method called on a parser or a record; None when the receiver is neither (after
        forgetting the defaults of records handed to a method dllint does not follow)."""
        if isinstance(receiver, Parser):
            return self._parser_method(receiver, name, args, kwargs, node)
        if isinstance(receiver, Record):
            return _record_method(receiver, name, args, kwargs, node)
        followed = isinstance(receiver, Instance) and receiver.cls is not None
        if not followed and name not in _READING_METHODS:
            _forget_passed(args, kwargs)
        return None

    def _imported(self: "Evaluator", qualified: str) -> Value:
        """An imported name (``from config import DROPOUT``, ``config.cfg``): the value another
        file of the run gives it, when the engine passed it in; else a reference by name."""
        if wants(qualified):
            self._config.wanted.add(qualified)
            fact = self.sem.externals.get(qualified)
            if fact is not None and fact[0] != "call":
                return value_of_fact(fact, qualified)
        return Reference(qualified)

    def _note_default(self: "Evaluator", value: Value, node: cst.CSTNode) -> None:
        """A condition that builds or rewires modules decided by a default the user can
        override: the path depends on it (its description says so, and a fix that assumes this
        structure is not safe for every run)."""
        source = config_source(value)
        if source is None or not source.overridable or self._choices is None or not self._builds_modules(node):
            return
        text = source.as_condition()
        if text not in self._choices.defaults:
            self._choices.defaults.append(text)

    # argparse -----------------------------------------------------------------------------

    def _parser(self: "Evaluator", args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Parser:
        """The parser a constructor call builds: one per call in the file, so that a module-level
        parser read from inside a function (re-evaluated on its own) has the options the
        module body added to it."""
        parsers = self._config.parsers
        parser = parsers.get(id(node))
        if parser is None:
            parser = parsers[id(node)] = Parser(node)
            parents = kwargs.get("parents")
            if parents is not None:
                if isinstance(parents, Container) and parents.complete and all(isinstance(p, Parser) for p in parents.items):
                    for parent in parents.items:
                        parser.options.update(parent.options)  # type: ignore[union-attr]
                        parser.complete = parser.complete and parent.complete  # type: ignore[union-attr]
                else:
                    parser.complete = False
            self._replay_module_setup(parser, node)
        return parser

    def _replay_module_setup(self: "Evaluator", parser: Parser, node: cst.Call) -> None:
        """A parser built at module level gets the options the module's top-level statements add
        to it (``parser.add_argument(...)``, through argument groups too), whenever it is first
        met: a class or function reading the module's ``args`` may be evaluated before the
        module body (the statements run again then, adding the same options)."""
        statements = list(_module_statements(self.sem.module.body))
        names = {
            target.target.value
            for statement in statements if isinstance(statement, cst.Assign) and statement.value is node
            for target in statement.targets if isinstance(target.target, cst.Name)
        }
        if not names:
            return
        from dllint.semantics.paths import Frame, State

        self._frames.append(Frame(None, self.sem.info.scope, None, [], False))
        try:
            for statement in statements:
                call = statement.value if isinstance(statement, (cst.Assign, cst.Expr)) else None
                if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                        and isinstance(call.func.value, cst.Name) and call.func.value.value in names):
                    continue
                method = call.func.attr.value
                if isinstance(statement, cst.Assign) and method in ("add_argument_group", "add_mutually_exclusive_group"):
                    names.update(t.target.value for t in statement.targets if isinstance(t.target, cst.Name))
                elif isinstance(statement, cst.Expr) and method in ("add_argument", "set_defaults"):
                    args, kwargs = self._arguments(call, State({}))
                    self._parser_method(parser, method, args, kwargs, call)
        finally:
            self._frames.pop()

    def _parser_method(self: "Evaluator", parser: Parser, name: str, args: tuple[Value, ...],
                       kwargs: dict[str, Value], node: cst.Call) -> Value:
        if name == "add_argument":
            _add_option(parser, args, kwargs)
            return Unknown()
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            return parser  # their options land in the parser's namespace
        if name == "set_defaults":
            for dest, value in kwargs.items():
                if dest == "**":
                    parser.complete = False
                    for option in list(parser.options):
                        parser.options[option] = Unknown()
                elif dest in parser.options or parser.complete:
                    parser.options[dest] = _default(value, f"--{dest}")
            return Constant(None)
        if name == "add_subparsers":
            parser.complete = False
            return Unknown()
        if name in ("parse_args", "parse_known_args", "parse_intermixed_args"):
            namespace = _parse(parser, args, kwargs, node)
            if name == "parse_known_args":
                return Container("list", [namespace, Unknown()], node)
            return namespace
        return Unknown()

    # attributes, items and unpacking ------------------------------------------------------

    def _config_attribute(self: "Evaluator", owner: Value, name: str) -> Optional[Value]:
        """``args.dropout``, ``Config.dropout``, ``self.expansion``: a record's field or a class
        attribute (None when the owner is neither a record nor a class of the file)."""
        if isinstance(owner, Record):
            return owner.field(name)
        if isinstance(owner, ClassRef):
            return self._class_attribute(owner.cls, name)
        if isinstance(owner, Instance) and owner.cls is not None and (owner.attrs is None or name not in owner.attrs):
            return self._class_attribute(owner.cls, name)
        return None

    def _class_attribute(self: "Evaluator", cls: ClassInfo, name: str) -> Optional[Value]:
        """A literal class attribute (``expansion = 4``), along the class's bases of this file;
        None when there is none or the file assigns it elsewhere (``Config.dropout = 0.5``)."""
        for owner in [cls, *_local_bases(self, cls)]:
            default = class_defaults(owner).get(name)
            if default is None:
                continue
            if name in _reassigned_class_attributes(self, owner):
                return None
            value = literal_of(default)
            if value is UNKNOWN:
                return None
            if self.sem.is_module_class(owner):
                return Constant(value)
            return ConfigValue(value, f"{owner.name}.{name}", overridable=False)
        return None

    def _config_item(self: "Evaluator", owner: Value, key: Value) -> Optional[Value]:
        """``out["logits"]`` / ``out[0]`` of a record; of a tensor, the element with its key
        (so that what a model's output record holds under each key can be told apart)."""
        if isinstance(owner, Record) and isinstance(key, Constant):
            if isinstance(key.value, str):
                return owner.field(key.value)
            if isinstance(key.value, int) and owner.order is not None and -len(owner.order) <= key.value < len(owner.order):
                return owner.field(owner.order[key.value])
            return Unknown()
        if isinstance(owner, Instance) and isinstance(key, Constant) and isinstance(key.value, int):
            order = tuple_fields(self, owner)
            if order is not None and -len(order) <= key.value < len(order):
                return owner.attrs.get(order[key.value]) or Unknown()  # type: ignore[union-attr]
        return None

    # classes without __init__ ---------------------------------------------------------------

    def _field_args(self: "Evaluator", cls: ClassInfo, args: tuple[Value, ...], kwargs: dict[str, Value]) -> dict[str, Value]:
        """The constructor arguments of a dataclass / ``NamedTuple`` (no ``__init__`` of its
        own), bound to its fields in order."""
        fields = [name for name in class_defaults(cls, annotated=True)] if is_record_class(self, cls) else []
        bound = {name: value for name, value in zip(fields, args) if not _is_star(value)}
        for name, value in kwargs.items():
            if name in fields:
                bound[name] = value
        return bound

    def _fields_of(self: "Evaluator", cls: ClassInfo, args: dict[str, Value]) -> dict[str, Value]:
        """What an instance of a class without ``__init__`` holds: its class-level literal
        defaults, overridden by the arguments it was built with."""
        attrs: dict[str, Value] = {}
        if not is_record_class(self, cls) and self.sem.is_module_class(cls):
            return attrs
        for owner in reversed([cls, *_local_bases(self, cls)]):
            reassigned = _reassigned_class_attributes(self, owner)
            for name, default in class_defaults(owner).items():
                value = literal_of(default) if name not in reassigned else UNKNOWN
                attrs[name] = ConfigValue(value, f"{owner.name}.{name}", overridable=False) if value is not UNKNOWN else Unknown()
        attrs.update(args)
        return attrs


def is_record_class(evaluator: "Evaluator", cls: ClassInfo) -> bool:
    """A dataclass, ``NamedTuple`` or pydantic model of this file (directly or by a local base)."""
    for owner in [cls, *_local_bases(evaluator, cls)]:
        decorators = [owner.outer.resolve(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                      for d in owner.node.decorators]
        if any(d in _DATACLASS_DECORATORS for d in decorators):
            return True
        if any(base in _RECORD_BASES for base in owner.bases):
            return True
    return False


def tuple_fields(evaluator: "Evaluator", instance: Instance) -> Optional[list[str]]:
    """The field names by position of a ``NamedTuple`` instance (None for other instances)."""
    cls = instance.cls
    if cls is None or instance.attrs is None:
        return None
    if not any(base in ("typing.NamedTuple", "typing_extensions.NamedTuple") for base in cls.bases):
        return None
    return list(class_defaults(cls, annotated=True))


def class_defaults(cls: ClassInfo, *, annotated: bool = False) -> dict[str, Optional[cst.BaseExpression]]:
    """The class body's attributes in order: name → the expression assigned (a dataclass
    ``field(default=...)`` is its default; None for an annotation without a value, listed
    only with ``annotated``, and for ``field(default_factory=...)``)."""
    found: dict[str, Optional[cst.BaseExpression]] = {}
    body = cls.node.body.body if isinstance(cls.node.body, cst.IndentedBlock) else ()
    for statement in body:
        if type(statement) is not cst.SimpleStatementLine:
            continue
        for small in statement.body:
            if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                if small.value is None and not annotated:
                    continue
                found[small.target.value] = _field_default(small.value)
            elif isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                if not annotated:
                    found[small.targets[0].target.value] = small.value
    return found


def literal_of(expr: Optional[cst.BaseExpression]) -> Any:
    """The value of a literal (a number, a string, True/False/None, a tuple of them, a negative
    number); UNKNOWN for anything else."""
    if expr is None:
        return UNKNOWN
    if isinstance(expr, cst.Name):
        return {"True": True, "False": False, "None": None}.get(expr.value, UNKNOWN)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal_of(expr.expression)
        return -inner if isinstance(inner, (int, float)) and not isinstance(inner, bool) else UNKNOWN
    if isinstance(expr, (cst.Tuple, cst.List)):
        values = [literal_of(element.value) for element in expr.elements if not isinstance(element, cst.StarredElement)]
        if len(values) != len(expr.elements) or any(value is UNKNOWN for value in values):
            return UNKNOWN
        return tuple(values)
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return literal_value(expr)
    return UNKNOWN


def _field_default(value: Optional[cst.BaseExpression]) -> Optional[cst.BaseExpression]:
    """``field(default=0.9)`` → ``0.9``; ``field(default_factory=list)`` → None."""
    if type(value) is cst.Call and type(value.func) in (cst.Name, cst.Attribute):
        callee = value.func.attr.value if isinstance(value.func, cst.Attribute) else value.func.value
        if callee in ("field", "Field", "ib", "attrib"):
            for arg in value.args:
                if arg.keyword is not None and arg.keyword.value == "default":
                    return arg.value
            return None
    return value


def _local_bases(evaluator: "Evaluator", cls: ClassInfo) -> list[ClassInfo]:
    found: list[ClassInfo] = []
    stack = evaluator.sem.local_bases(cls)
    while stack and len(found) < 20:
        base = stack.pop(0)
        if base is not cls and base not in found:
            found.append(base)
            stack.extend(evaluator.sem.local_bases(base))
    return found


def _reassigned_class_attributes(evaluator: "Evaluator", cls: ClassInfo) -> frozenset[str]:
    """Attributes the file assigns through the class's name (``Config.dropout = 0.5``;
    ``setattr(Config, ...)`` makes them all unknown)."""
    cache = evaluator._config.reassigned
    known = cache.get(id(cls))
    if known is None:
        names = set(_stored_names(evaluator).get(cls.name, ()))
        if "*" in names:
            names.update(class_defaults(cls))
        known = cache[id(cls)] = frozenset(names)
    return known


# ``name.attr = ...`` / ``name.attr.more += ...`` (not ``==``), and ``setattr(name, ...)`` / ``vars(name)``
_ATTRIBUTE_STORE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*\s*(?:[-+*/%@&|^]|//|\*\*|<<|>>)?=(?!=)")
_WHOLE_STORE = re.compile(r"\b(?:setattr|vars)\(\s*([A-Za-z_]\w*)")


def _stored_names(evaluator: "Evaluator") -> dict[str, set[str]]:
    """Names whose attributes the file sets anywhere (``args.lr = ...``, ``Config.dropout =
    ...``: those attributes), or that it hands to ``setattr``/``vars`` (``*``: any). Read off
    the text in one pass (a superset: a match in a string or comment counts too)."""
    state = evaluator._config
    if state.stored is None:
        text = evaluator.sem.text
        stored: dict[str, set[str]] = {}
        if "=" in text:
            for match in _ATTRIBUTE_STORE.finditer(text):
                stored.setdefault(match.group(1), set()).add(match.group(2))
        if "setattr" in text or "vars" in text:
            for match in _WHOLE_STORE.finditer(text):
                stored.setdefault(match.group(1), set()).add("*")
        state.stored = stored
    return state.stored


# --- argparse ---------------------------------------------------------------------------------

_STORE_CONSTANT_ACTIONS = {"store_true": False, "store_false": True}
_NO_DEFAULT_ACTIONS = frozenset({"store_const", "append", "append_const", "count", "extend", "help", "version"})


def _add_option(parser: Parser, args: tuple[Value, ...], kwargs: dict[str, Value]) -> None:
    flags = [arg.value for arg in args if isinstance(arg, Constant) and isinstance(arg.value, str)]
    if len(flags) != len(args) or not flags:
        parser.complete = False  # ``add_argument(*names)``: which option is unknown
        return
    dest_value = kwargs.get("dest")
    long = [flag for flag in flags if flag.startswith("--")]
    if isinstance(dest_value, Constant) and isinstance(dest_value.value, str):
        dest = dest_value.value
    elif dest_value is not None:
        parser.complete = False
        return
    else:
        name = long[0] if long else flags[0]
        dest = name.lstrip("-").replace("-", "_")
    flag = long[0] if long else flags[0]
    if not flag.startswith("-") or "**" in kwargs:
        parser.options[dest] = Unknown()  # a positional argument: always given on the command line
        return
    parser.options[dest] = _option_value(flag, kwargs)


def _option_value(flag: str, kwargs: dict[str, Value]) -> Value:
    """What ``args.<dest>`` holds when the option is not given: its default, unless the value
    is one of several deliberate choices (``choices=``), required, or has no usable default."""
    if "choices" in kwargs or _is_true(kwargs.get("required")):
        return Unknown()
    action = kwargs.get("action")
    if action is not None:
        if not isinstance(action, Constant) or not isinstance(action.value, str):
            return Unknown()
        if action.value in _STORE_CONSTANT_ACTIONS and "default" not in kwargs:
            return ConfigValue(_STORE_CONSTANT_ACTIONS[action.value], flag, overridable=True)
        if action.value in _NO_DEFAULT_ACTIONS:
            return Unknown()
    if "default" not in kwargs or "nargs" in kwargs:
        return Unknown()  # None: the code must handle an option it is not given
    default = kwargs["default"]
    if not isinstance(default, Constant) or default.value is None:
        return Unknown()
    value = default.value
    converter = kwargs.get("type")
    if isinstance(value, str) and isinstance(converter, Reference) and converter.qualified in ("builtins.int", "builtins.float"):
        try:  # argparse applies ``type`` to a string default
            value = int(value) if converter.qualified == "builtins.int" else float(value)
        except ValueError:
            return Unknown()
    return ConfigValue(value, flag, overridable=True)


def _default(value: Value, flag: str) -> Value:
    if isinstance(value, Constant) and value.value is not None:
        return ConfigValue(value.value, flag, overridable=True)
    return Unknown()


def _parse(parser: Parser, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Record:
    """``parse_args()`` reads the command line (defaults the user overrides); ``parse_args([])``
    / ``parse_args("")`` (a notebook) reads nothing: the defaults are the values; a literal list
    of arguments sets the options it names."""
    given = args[0] if args else kwargs.get("args")
    fields = dict(parser.options)
    if isinstance(given, (Container, Constant)) and not _is_none(given):
        words = _words(given)
        if words is None:
            return Record("namespace", _PARSER, node, {name: Unknown() for name in fields}, complete=False)
        fields = {
            name: ConfigValue(value.value, value.source, False, value.setting) if isinstance(value, ConfigValue) else value
            for name, value in fields.items()
        }
        for word in words:
            if word.startswith("-"):
                dest = word.split("=", 1)[0].lstrip("-").replace("-", "_")
                fields[dest] = Unknown()
    return Record("namespace", _PARSER, node, fields, complete=parser.complete)


def _words(value: Value) -> Optional[list[str]]:
    if isinstance(value, Constant) and isinstance(value.value, str):
        return value.value.split()
    if isinstance(value, Constant) and isinstance(value.value, (tuple, list)):
        items = list(value.value)
    elif isinstance(value, Container) and value.complete and value.keys is None:
        items = [item.value if isinstance(item, Constant) else UNKNOWN for item in value.items]
    else:
        return None
    return [str(item) for item in items] if all(isinstance(item, str) for item in items) else None


# --- records ----------------------------------------------------------------------------------

def _config_record(qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Value:
    fields: dict[str, Value] = {}
    complete = True
    if args:
        source = args[0]
        if isinstance(source, Container) and source.keys is not None:
            for key, item in zip(source.keys, source.items):
                if isinstance(key, str):
                    fields[key] = item
            complete = source.complete
        elif isinstance(source, Record):
            fields.update(source.fields)
            complete = source.complete
        else:
            complete = False
    for name, value in kwargs.items():
        if name == "**":
            complete = False
        else:
            fields[name] = value
    return Record("config", qualified, node, fields, complete=complete)


def _record_method(record: Record, name: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Value:
    if name == "get" and args and isinstance(args[0], Constant) and isinstance(args[0].value, str):
        if args[0].value in record.fields:
            return record.fields[args[0].value]
        if record.complete:
            return args[1] if len(args) > 1 else Constant(None)
        return Unknown()
    if name == "_replace":
        fields = dict(record.fields)
        fields.update({key: value for key, value in kwargs.items() if key != "**"})
        return Record(record.kind, record.qualified, node, fields, record.order, record.complete and "**" not in kwargs)
    if name in ("copy", "clone", "deepcopy"):
        return Record(record.kind, record.qualified, node, dict(record.fields), record.order, record.complete)
    if name in ("to_tuple",) and record.order is not None:
        return Container("list", [record.field(field) for field in record.order], node)
    if name in _RECORD_READERS or record.kind == "output":
        return Unknown()  # (an output record's methods move or convert its tensors)
    record.forget()  # ``update``, ``merge_from_file``, ``freeze``...: whatever it does
    return Unknown()


def _is_output_record(qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value]) -> bool:
    """An output record built with keyword tensors: a transformers ``*Output`` (a
    ``ModelOutput``), or a class of another file called with keyword arguments only, some of
    them tensors an operation computed (``DetectorOutput(boxes=b, scores=s)``; a model is built
    from sizes, or from loaded weights, never from what a layer computed)."""
    if args or not kwargs:
        return False
    name = qualified.rsplit(".", 1)[-1]
    if not name[:1].isupper():
        return False
    if qualified.startswith("transformers.") and name.endswith("Output"):
        return True
    return not qualified.startswith(("torch.", "builtins.")) and any(
        isinstance(option, Tensor) and option.kind not in ("fresh", "parameter", "input")
        for value in kwargs.values() for option in options_of(value)
    )


# What ``tensor.<name>`` reads off a tensor itself, never a field of an output record.
_TENSOR_ATTRIBUTES = frozenset({
    "shape", "dtype", "device", "T", "mT", "H", "mH", "data", "grad", "requires_grad", "is_cuda", "ndim", "real",
    "imag", "layout", "names", "grad_fn", "is_leaf", "is_sparse", "is_quantized", "is_meta", "itemsize", "nbytes",
})


def record_fields(value: Value) -> Optional[list[Value]]:
    """What an object with named fields holds — a :class:`Record`, or an instance of a class of
    the file that is not a model (a dataclass or ``NamedTuple`` output) — None for anything else."""
    if isinstance(value, Record):
        return list(value.fields.values())
    if isinstance(value, Instance) and value.cls is not None and value.attrs and value.origin == "constructed" \
            and not _is_module_instance(value):
        return list(value.attrs.values())
    return None


def _is_module_instance(instance: Instance) -> bool:
    """A model (its class derives from a module class, here or elsewhere): judged by its
    bases' names, as a value cannot reach the file's semantics."""
    from dllint.semantics import catalog

    return any(base in catalog.MODULE_BASES or (base and not base.startswith(("builtins.", "typing.", "dataclasses.")))
               for base in instance.cls.bases)  # type: ignore[union-attr]


def output_field(owner: Value, name: str) -> bool:
    """Whether ``owner.<name>`` reads a field of what a model returned (``model(x).logits``,
    the model a class of another file or a library's): an element of its output, like
    ``out["logits"]``."""
    if not isinstance(owner, Tensor) or owner.kind != "module" or name in _TENSOR_ATTRIBUTES or name.startswith("_"):
        return False
    return all(isinstance(option, Instance) for option in options_of(owner.target))


def _only_reads(qualified: str) -> bool:
    """A callee that leaves the records it is given as they are: printing, logging and
    serialising, or a class built from them (a model reads its configuration)."""
    if qualified in _READING_FUNCTIONS or qualified.startswith(_READING_MODULES):
        return True
    return qualified.rsplit(".", 1)[-1][:1].isupper()


def _forget_passed(args: tuple[Value, ...], kwargs: dict[str, Value]) -> None:
    """Records and config objects handed to code dllint does not follow: what they hold may
    have changed there (an instance of a config class forgets its class-level defaults)."""
    for value in (*args, *kwargs.values()):
        for option in options_of(value):
            if isinstance(option, Record) and option.kind != "output":
                option.forget()
            elif isinstance(option, Instance) and option.attrs:
                for name, item in option.attrs.items():
                    if isinstance(item, ConfigValue):
                        option.attrs[name] = Unknown()


def _is_star(value: Value) -> bool:
    return type(value).__name__ == "Starred"


def _is_true(value: Optional[Value]) -> bool:
    return isinstance(value, Constant) and value.value is True


def _is_none(value: Value) -> bool:
    return isinstance(value, Constant) and value.value is None


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def derived_constant(value: Any, *operands: Value) -> Constant:
    """A constant computed from others: a :class:`ConfigValue` when one of them is."""
    source = config_source(*operands)
    return source.derived(value) if source is not None else Constant(value)



def _module_statements(body) -> Iterator[cst.BaseSmallStatement]:
    """The module's top-level simple statements in order, including those under module-level
    ``if``/``with``/``try`` blocks (``if __name__ == "__main__":``), not inside functions."""
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
        elif isinstance(statement, (cst.If, cst.With, cst.Try, cst.For, cst.While)):
            block = statement.body
            yield from _module_statements(block.body if isinstance(block, cst.IndentedBlock) else ())
            orelse = getattr(statement, "orelse", None)
            if isinstance(orelse, cst.If):
                yield from _module_statements([orelse])
            elif orelse is not None:
                yield from _module_statements(orelse.body.body if isinstance(orelse.body, cst.IndentedBlock) else ())


# --- across files -------------------------------------------------------------------------------
#
# A file's configuration values travel to the files that import them as *facts*: small
# picklable tuples in its summary (``ModuleSummary.values``), by qualified name:
#
#   ("value", value, source, overridable)   a constant (a module constant, a class attribute,
#                                            an option's default)
#   ("record", {field: fact}, complete)     a namespace or config object
#   ("call", fact)                          a function that returns that when called with no
#                                            arguments (``get_args()``)
#
# A file that looks up an imported name records it (``Evaluator.wanted``); the engine analyses
# it again with the facts the other files of the run give those names (``FileSemantics.externals``).

# Imported names that are never another file of the run's configuration.
_LIBRARY_ROOTS = frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "numpy", "builtins", "typing", "os", "sys", "math", "re",
    "json", "logging", "collections", "functools", "itertools", "dataclasses", "argparse", "pathlib", "random",
    "time", "copy", "abc", "enum", "warnings", "transformers", "timm", "lightning", "pytorch_lightning", "scipy",
    "sklearn", "pandas", "matplotlib", "PIL", "cv2", "tqdm", "yaml", "wandb", "einops", "accelerate", "datasets",
})
_SCALARS = (int, float, bool, str)


def wants(qualified: str) -> bool:
    """Whether an imported name may be a configuration value of another file of the run."""
    return qualified.split(".", 1)[0] not in _LIBRARY_ROOTS


def exported_values(sem) -> dict[str, tuple]:
    """The configuration values a file offers to the files that import it: literal module
    constants, module-level namespaces (``args = parser.parse_args()``) and config objects,
    functions that build and return a namespace, and config classes' literal attributes."""
    module = sem.module_name
    short = module.rsplit(".", 1)[-1]
    evaluator = sem.evaluator
    facts: dict[str, tuple] = {}
    scope = sem.info.scope
    for name, bindings in scope.bindings.items():
        if len(bindings) != 1 or name.startswith("__"):
            continue
        binding = bindings[0]
        if binding.kind == "assign" and binding.value is not None:
            fact = _assigned_fact(evaluator, name, binding.value, f"{short}.{name}")
        elif binding.kind == "def":
            function = sem.function_of(binding.node)
            fact = _function_fact(evaluator, function) if function is not None else None
        else:
            fact = None
        if fact is not None:
            facts[f"{module}.{name}"] = fact
    for cls in sem.info.classes:
        if cls.outer is not scope or sem.is_module_class(cls):
            continue
        literals = {name: literal_of(default) for name, default in class_defaults(cls).items()}
        literals = {name: value for name, value in literals.items() if _is_scalar(value)}
        if not literals:
            continue
        reassigned = _reassigned_class_attributes(evaluator, cls)
        for name, value in literals.items():
            if name not in reassigned:
                facts[f"{module}.{cls.name}.{name}"] = ("value", value, f"{cls.name}.{name}", False)
    return facts


def _assigned_fact(evaluator: "Evaluator", name: str, expr: cst.BaseExpression, source: str) -> Optional[tuple]:
    value = literal_of(expr)
    if value is not UNKNOWN:  # a number, a flag or a tuple of sizes (names and paths are not configuration here)
        return ("value", value, source, False) if _is_scalar(value) and not isinstance(value, str) else None
    if not isinstance(expr, cst.Call):
        return None
    callee = expr.func.attr.value if isinstance(expr.func, cst.Attribute) else expr.func.value if isinstance(expr.func, cst.Name) else ""
    if callee not in ("parse_args", "parse_known_args", "SimpleNamespace", "Namespace", "EasyDict", "edict") and not (
        callee[:1].isupper() and _calls_config_class(evaluator, expr)
    ):
        return None
    stored = _stored_names(evaluator)
    if "*" in stored.get(name, ()):
        return None
    fact = _fact(evaluator._global(name, evaluator.sem.info.scope), source)
    if fact is not None and fact[0] == "record" and name in stored:
        fields = {key: item for key, item in fact[1].items() if key not in stored[name]}
        fact = ("record", fields, False)
    return fact


def _calls_config_class(evaluator: "Evaluator", call: cst.Call) -> bool:
    """``Config()`` for a dataclass / NamedTuple / plain class of this file without ``__init__``."""
    qualified = evaluator.sem.info.scope.resolve(call.func)
    cls = evaluator.sem.local_class(qualified)
    return cls is not None and not evaluator.sem.is_module_class(cls) and evaluator.sem.find_method(cls, "__init__") is None


def _function_fact(evaluator: "Evaluator", function) -> Optional[tuple]:
    """A module-level function that parses the command line (or builds a config) and returns
    it, when called with no arguments."""
    if function.cls is not None or any(param.default is None for param in function.params):
        return None
    if not any(site.method in ("parse_args", "parse_known_args") for site in function.calls):
        return None
    returned = [value for trace in evaluator.run_function(function) for value in trace.returns]
    found = [_fact(value, function.name + "()") for value in returned]
    if not found or any(fact is None for fact in found) or len({repr(fact) for fact in found}) != 1:
        return None
    return ("call", found[0])


def _fact(value: Value, name: str, depth: int = 0) -> Optional[tuple]:
    """The fact a value is (``name``: how a message names it when it is a plain constant)."""
    if isinstance(value, ConfigValue) and _is_scalar(value.value):
        return ("value", value.value, value.source, value.overridable)
    if isinstance(value, Constant) and _is_scalar(value.value):
        return ("value", value.value, name, False)
    if depth >= 4:
        return None
    if isinstance(value, Record) and value.kind != "output":
        fields = {key: _fact(item, f"{name}.{key}", depth + 1) for key, item in value.fields.items()}
        return ("record", {key: fact for key, fact in fields.items() if fact is not None}, value.complete)
    if isinstance(value, Instance) and value.cls is not None and value.attrs is not None:
        fields = {key: _fact(item, f"{name}.{key}", depth + 1) for key, item in value.attrs.items()}
        known = {key: fact for key, fact in fields.items() if fact is not None}
        return ("record", known, False) if known else None
    return None


def _is_scalar(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return True
    return isinstance(value, tuple) and bool(value) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def value_of_fact(fact: tuple, qualified: str) -> Value:
    """The value a fact of another file stands for (a fresh object each time: what this file
    does to it stays here)."""
    kind = fact[0]
    if kind == "value":
        return ConfigValue(fact[1], fact[2], fact[3])
    if kind == "record":
        fields = {name: value_of_fact(item, f"{qualified}.{name}") for name, item in fact[1].items()}
        return Record("namespace", qualified, None, fields, complete=fact[2])
    return Unknown()
