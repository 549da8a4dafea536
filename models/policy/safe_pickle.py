"""Read a `torch.save` file without executing anything it carries.

A torch checkpoint is a zip: `<name>/data.pkl` (a pickle) and `<name>/data/<key>` (raw tensor
bytes). Unpickling runs whatever callables the pickle names, so `torch.load(weights_only=False)`
(how the released NitroGen checkpoint is read by its own code, inference_session.py:43) runs
arbitrary code. `read_checkpoint` reads it with `RestrictedUnpickler`:

- tensors are rebuilt by this module from the zip's bytes (torch's rebuild functions and storage
  classes are only names matched here, never called);
- `collections.OrderedDict`, `set`, `frozenset` and the pickle's own primitives are built;
- any other class named by the pickle is never imported: an instance that pickle recreates the
  plain way (`cls.__new__` + state, e.g. pydantic's `CkptConfig`) becomes a `ForeignObject`
  holding the class name and state, turned into a plain dict afterwards; calling the class or any
  other global (a `__reduce__` such as `os.system(...)`) raises `UnsafePickleError` naming it, and
  nothing has run.

Why not `torch.load(weights_only=True)` with `torch.serialization.safe_globals`: it would read the
tensors safely, but each foreign class (CkptConfig and every nested config class) would have to be
listed by name ahead of time, standing in for the real one, and an unknown one stops the load with
torch's message; this reader turns any plain-data class into a dict, names what it refuses in its
own words, and shows in one page everything it builds. The zip layout read here is torch's
(torch/serialization.py `_save`, `_load`); the legacy pre-1.6 format is refused.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

# Storage classes torch.save names for each dtype (torch/storage.py's typed storages).
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}  # fmt: skip
SAFE_BUILTINS = {("collections", "OrderedDict"): OrderedDict, ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
                 ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset}  # protocol 2 spells builtins the Python 2 way
TENSOR_REBUILDERS = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")}


class UnsafePickleError(ValueError):
    """The pickle asks to call something outside the allow-list."""


class ForeignObject:
    """An instance of a class this reader does not import: its qualified name and pickled state."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # pickle reaches __init__ only when it *calls* the class (REDUCE, INST, OBJ), never for
        # NEWOBJ; a call may be any callable at all, so it is refused.
        raise UnsafePickleError(f"the pickle calls {self.qualname}(...); refused, nothing was executed")

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _foreign_class(module: str, name: str) -> type:
    return type(name, (ForeignObject,), {"qualname": f"{module}.{name}", "__module__": "padflow.foreign"})


class RestrictedUnpickler(pickle.Unpickler):
    """data.pkl of a torch zip checkpoint → Python objects, building only tensors, containers and primitives."""

    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(file)
        self.archive, self.prefix, self.source = archive, prefix, source
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_BUILTINS:
            return SAFE_BUILTINS[(module, name)]
        if (module, name) in TENSOR_REBUILDERS:
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        return _foreign_class(module, name)

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafePickleError(f"{self.source}: unknown persistent id {str(pid)[:80]!r}")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            try:
                raw = self.archive.read(name)
            except KeyError:
                raise ValueError(f"{self.source}: tensor data {name} missing from the archive") from None
            flat = torch.frombuffer(bytearray(raw), dtype=storage_type.dtype) if raw else torch.empty(0, dtype=storage_type.dtype)
            if flat.numel() != numel:
                raise ValueError(f"{self.source}: {name} holds {flat.numel()} values, the pickle says {numel}")
            self.storages[key] = flat
        return self.storages[key]


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *_ignored: Any) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2's arguments → a tensor viewing our own storage copy (grad flags dropped)."""
    if not isinstance(storage, torch.Tensor):
        raise UnsafePickleError("a tensor rebuild without tensor storage; refused")
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset)).clone()


def plain(value: Any) -> Any:
    """ForeignObject → {'__class__': name, **fields}; containers recursively; tensors and primitives as they are."""
    if isinstance(value, ForeignObject):
        state = getattr(value, "state", None)
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):  # (dict, slots) form
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict) and isinstance(state.get("__dict__"), dict):  # pydantic BaseModel.__getstate__
            state = state["__dict__"]
        fields = {str(k): plain(v) for k, v in state.items()} if isinstance(state, dict) else {"__state__": plain(state)}
        return {"__class__": value.qualname, **fields}
    if isinstance(value, dict):
        return type(value)((k, plain(v)) for k, v in value.items()) if isinstance(value, OrderedDict) else {
            k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return value


def read_checkpoint(path: str | Path) -> Any:
    """The object a torch zip checkpoint holds, read by RestrictedUnpickler; foreign instances as plain dicts."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a torch zip checkpoint (torch.save since 1.6); the legacy format is not read")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one <name>/data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = archive.read(f"{prefix}byteorder").decode().strip() if f"{prefix}byteorder" in archive.namelist() else "little"
        if byteorder != "little":
            raise ValueError(f"{path}: tensors saved {byteorder}-endian; only little-endian is read")
        unpickler = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, str(path))
        try:
            obj = unpickler.load()
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{path}: {exc}") from None
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, IndexError, KeyError, RuntimeError) as exc:
            raise ValueError(f"{path}: not a readable checkpoint pickle ({type(exc).__name__}: {exc})") from None
    return plain(obj)
