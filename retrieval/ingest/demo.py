"""The built-in demo corpus: the Python standard library's own documentation.

It exists on every machine, needs no download, and is real text people search:
- every ``pydoc_data.topics`` entry (the language reference pages behind ``help("with")``),
  id ``topic:<name>``;
- the docstrings of the modules in ``MODULES`` and of their public classes, functions, methods
  and properties, id = qualified name (``json.dumps``, ``pathlib.Path.glob``; builtins without
  the ``builtins.`` prefix: ``str.split``). Functions get their signature as the first line.

Order is deterministic (topics by name, then ``MODULES`` order, then names sorted). An object
reachable under several names (``os.path.join`` is ``posixpath.join``) appears once, under the
first. Attributes are read with ``vars()``, never ``getattr``, so no property, lazy loader or
deprecation hook runs.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any, Iterator

from ..types import Document

# Pure-library modules with no import side effects (no GUI, no terminal, no easter eggs), present
# on CPython 3.10+. Missing ones (a stripped-down build, a future removal) are skipped.
MODULES: tuple[str, ...] = (
    "builtins", "abc", "argparse", "array", "ast", "asyncio", "base64", "binascii", "bisect",
    "bz2", "calendar", "cmath", "codecs", "collections", "collections.abc", "colorsys",
    "concurrent.futures", "configparser", "contextlib", "contextvars", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "dis", "email.message", "enum", "filecmp",
    "fnmatch", "fractions", "functools", "getopt", "gettext", "glob", "graphlib", "gzip",
    "hashlib", "heapq", "hmac", "html", "html.parser", "http", "http.client", "inspect", "io",
    "ipaddress", "itertools", "json", "keyword", "linecache", "locale", "logging",
    "logging.handlers", "lzma", "math", "mimetypes", "numbers", "operator", "os", "os.path",
    "pathlib", "pickle", "pkgutil", "platform", "pprint", "queue", "random", "re", "reprlib",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "socket", "sqlite3",
    "statistics", "string", "struct", "subprocess", "sys", "tarfile", "tempfile", "textwrap",
    "threading", "time", "timeit", "tokenize", "tomllib", "traceback", "types", "typing",
    "unicodedata", "unittest", "unittest.mock", "urllib.parse", "urllib.request", "uuid",
    "warnings", "weakref", "xml.etree.ElementTree", "zipfile", "zlib", "zoneinfo",
)


def demo_corpus() -> Iterator[Document]:
    """Documents of the Python standard library documentation (see module docstring)."""
    seen: set[int] = set()  # id() of objects already emitted; the modules keep them alive
    ids: set[str] = set()  # belt and braces: a document id is never repeated
    for name in (None, *MODULES):
        module = _import(name) if name is not None else None
        docs = _topics() if name is None else _module_docs(name, module, seen) if module is not None else ()
        for doc in docs:
            if doc.id not in ids:
                ids.add(doc.id)
                yield doc


def _topics() -> Iterator[Document]:
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip pydoc_data
        return
    for name in sorted(topics):
        text = topics[name].strip()
        if text:
            yield Document(id=f"topic:{name}", title=name, text=text, metadata={"kind": "topic"})


def _import(name: str) -> Any:
    with warnings.catch_warnings():
        # A module deprecated in a newer Python must not turn into an error under -W error.
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except ImportError:
            return None


def _module_docs(modname: str, module: Any, seen: set[int]) -> Iterator[Document]:
    prefix = "" if modname == "builtins" else f"{modname}."
    if id(module) not in seen:
        seen.add(id(module))
        doc = _doc(module)
        if doc:
            yield Document(id=modname, title=modname, text=doc, metadata={"kind": "module"})
    namespace = vars(module)
    public = namespace.get("__all__")
    if isinstance(public, (list, tuple)) and all(isinstance(n, str) for n in public):
        names = sorted(n for n in set(public) if n in namespace)
    else:
        names = sorted(
            n for n, obj in namespace.items()
            if not n.startswith("_") and getattr(obj, "__module__", None) == modname
        )
    for name in names:
        obj = namespace[name]
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and id(obj) not in seen:
            seen.add(id(obj))
            yield from _object_docs(prefix + name, obj, seen)


def _object_docs(qualname: str, obj: Any, seen: set[int]) -> Iterator[Document]:
    if inspect.isclass(obj):
        doc = _doc(obj)
        if doc:
            yield Document(id=qualname, title=qualname, text=doc, metadata={"kind": "class"})
        for name in sorted(n for n in vars(obj) if not n.startswith("_")):
            member = vars(obj)[name]
            if id(member) in seen:
                continue
            kind, func = _member_kind(member)
            if kind is None:
                continue
            seen.add(id(member))
            doc = _doc(func)
            if doc:
                text = _with_signature(name, func, doc) if kind == "method" else doc
                member_id = f"{qualname}.{name}"
                yield Document(id=member_id, title=member_id, text=text, metadata={"kind": kind})
    else:
        doc = _doc(obj)
        if doc:
            short = qualname.rsplit(".", 1)[-1]
            yield Document(id=qualname, title=qualname, text=_with_signature(short, obj, doc), metadata={"kind": "function"})


def _member_kind(member: Any) -> tuple[str | None, Any]:
    """("method" | "property" | None, the object holding the docstring)."""
    if isinstance(member, (classmethod, staticmethod)):
        return "method", member.__func__
    if isinstance(member, property):
        return "property", member
    if inspect.isroutine(member):
        return "method", member
    return None, None


def _doc(obj: Any) -> str:
    """The object's own docstring (not inherited), cleaned; "" when it has none."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else ""


def _with_signature(name: str, func: Any, doc: str) -> str:
    """Prefix the signature as a first line unless the docstring already starts with one."""
    if doc.startswith(f"{name}("):
        return doc
    try:
        sig = str(inspect.signature(func))
    except (TypeError, ValueError):  # many C functions have no introspectable signature
        return doc
    if " at 0x" in sig:  # a default's repr with a memory address would break determinism
        return doc
    return f"{name}{sig}\n\n{doc}"
