"""Delta debugging of an MLIR function by the operations of its body (in program order).

A candidate keeps some of the function's top-level operations; a value they use that a
dropped operation made (or that was an argument) becomes an argument of the candidate, and
the values they make that no kept operation uses are its results. Two kinds of value are never
cut off, as graph.py never cuts off an ONNX graph's constants and shapes: what an operation
without operands makes (a constant, a literal, a weight), and any value that is not a tensor
(a torch scalar, list or bool, an index): its maker is kept with its user. An operation with
regions is kept or dropped whole, with the outer values its regions use.

The search, each step verified by the oracle (run.py: the candidate run as the failing stage):
1. the failing op alone (an op of the error class's name, the diagnostic's types first), with
   what it needs;
2. else the window from the latest start that still fails to that op (bisection);
3. then dropping the window's other operations one at a time while it still fails;
4. then making the weights (float constants) splats of ones, all at once or one by one,
   where it still fails: a repro of a few lines instead of kilobytes of hex.

Parsing and printing go through torch-mlir's bindings, whose context reads every dialect of
the stages (torch, TOSA, linalg, StableHLO); the candidates are printed in generic form, what
IREE's parser reads alike (its TOSA spelling differs from torch-mlir's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from frontend_mess.support.errors import FrontendError
from frontend_mess.support.mlir_types import attributes_of, tensor_info, walk, walk_attributes

#: at most this many one-at-a-time drops (step 3): each is a compile
MAX_DROPS = 60
#: at most this many ops of the failing name tried alone (step 1)
MAX_ALONE = 8


@dataclass(frozen=True)
class Candidate:
    kept: frozenset[int]
    text: str
    #: constants whose values are made a splat (step 4): the ops' indices
    splat: frozenset[int] = frozenset()

    @property
    def key(self) -> tuple[frozenset[int], frozenset[int]]:
        return self.kept, self.splat


def parse_module(data: str | bytes):
    """(bindings, func dialect, module) for MLIR text or bytecode: torch-mlir's bindings
    (torch, TOSA, linalg, StableHLO: the FX paths), else IREE's (its own dialects too, as
    turbine's `util.global`s; its bytecode)."""
    errors = []
    for bindings in ("torch_mlir", "iree.compiler"):
        if bindings == "torch_mlir":
            from torch_mlir import ir
            from torch_mlir.dialects import func
            from torch_mlir.dialects import torch as torch_d

            context = ir.Context()
            torch_d.register_dialect(context)
        else:
            from iree.compiler import ir
            from iree.compiler.dialects import func

            context = ir.Context()
        try:
            return ir, func, ir.Module.parse(data, context)
        except ir.MLIRError as exc:
            errors.append(str(exc).splitlines()[-1].strip())
    raise FrontendError(f"cannot parse the MLIR module: {errors[-1]}")


class MlirFunction:
    """The function of a module that holds the failing op (else `main`, else the first)."""

    def __init__(self, text: str, failing_op: str = "", failing_types: str = "") -> None:
        self.ir, self.func, self.module = parse_module(text)
        self.context = self.module.context
        functions = [
            op.operation
            for op in self.module.body.operations
            if op.operation.name == "func.func" and op.operation.regions[0].blocks
        ]
        if not functions:
            raise FrontendError("the MLIR module has no function with a body to reduce")
        self.function = self._pick(functions, failing_op)
        block = self.function.regions[0].blocks[0]
        operations = [op.operation for op in block.operations]
        self.ops = operations[:-1]  # the terminator is rebuilt
        self.arguments = list(block.arguments)
        self._index = {self._key(op): i for i, op in enumerate(self.ops)}
        self.locate(failing_op, failing_types)

    def locate(self, failing_op: str, failing_types: str = "") -> None:
        """Say which op fails: `failing_ops`, the top-level ops holding an op of that name,
        the ones of the diagnostic's types first (else the last op); `failing`, the first."""
        self.failing_ops = self._holding(failing_op, failing_types) or [len(self.ops) - 1]
        self.failing = self.failing_ops[0]

    @staticmethod
    def _key(op) -> int:
        return hash(op)

    def _pick(self, functions: list, failing_op: str):
        if failing_op:
            for function in functions:
                if any(op.name == failing_op for op in walk(function)):
                    return function
        for function in functions:
            if str(function.attributes["sym_name"]).strip('"') == "main":
                return function
        return functions[0]

    def _holding(self, failing_op: str, failing_types: str) -> list[int]:
        """The indices of the top-level ops holding an op named `failing_op`, those with an
        op of the type `failing_types` (the diagnostic's `(operands) -> results`) first."""
        if not failing_op:
            return []
        wanted = self._function_type(failing_types)
        matching, others = [], []
        for i, op in enumerate(self.ops):
            named = [inner for inner in walk(op) if inner.name == failing_op]
            if not named:
                continue
            typed = wanted is not None and any(self._type_of(inner) == wanted for inner in named)
            (matching if typed else others).append(i)
        return matching + others

    def _function_type(self, text: str):
        """`(operands) -> results` read as a function type; None if it does not read."""
        if not text:
            return None
        try:
            with self.context:
                parsed = self.ir.FunctionType(self.ir.Type.parse(text))
        except (ValueError, TypeError, self.ir.MLIRError):  # cut short, or not a signature
            return None
        return ([str(t) for t in parsed.inputs], [str(t) for t in parsed.results])

    @staticmethod
    def _type_of(op) -> tuple[list[str], list[str]]:
        return ([str(v.type) for v in op.operands], [str(r.type) for r in op.results])

    def _producer(self, value) -> int | None:
        """The index of the top-level op that made `value`; None for an argument."""
        owner = value.owner
        if isinstance(owner, self.ir.Block):
            return None
        return self._index.get(self._key(owner.operation))

    def _used(self, index: int) -> list:
        """The outer values op `index` uses: its operands and what its regions capture."""
        op = self.ops[index]
        inner = {self._key(o) for o in walk(op)}
        used = []
        for o in walk(op):
            for value in o.operands:
                owner = value.owner
                if isinstance(owner, self.ir.Block):
                    parent = owner.owner  # the op whose region the block argument is of
                    if parent is not None and self._key(parent.operation) in inner:
                        continue
                elif self._key(owner.operation) in inner:
                    continue
                used.append(value)
        return used

    def _never_cut(self, value) -> bool:
        index = self._producer(value)
        if index is None:
            return False
        if tensor_info(value.type, self.ir) is None:  # a scalar, list, bool, none, index
            return True
        return len(self.ops[index].operands) == 0 and not self.ops[index].regions

    def closure(self, kept: set[int]) -> frozenset[int]:
        """`kept` with the makers of the values that are never cut off."""
        done, todo = set(), list(kept)
        while todo:
            i = todo.pop()
            if i in done:
                continue
            done.add(i)
            for value in self._used(i):
                if self._never_cut(value):
                    todo.append(self._producer(value))
        return frozenset(done)

    def splattable(self, index: int) -> bool:
        """Whether op `index` is a constant of float values that are not all one value."""
        op = self.ops[index]
        if op.operands or op.regions or len(op.results) != 1:
            return False
        return any(self._splat_of(named.attr) is not None for named in attributes_of(op))

    def _splat_of(self, attr):
        """A splat of ones of `attr`'s type, where it is a non-splat float elements attribute."""
        ir = self.ir
        with self.context, ir.Location.unknown():
            for kind in (ir.DenseFPElementsAttr, ir.DenseResourceElementsAttr):
                try:
                    typed = kind(attr)
                except (ValueError, TypeError):
                    continue
                if isinstance(typed, ir.DenseElementsAttr) and typed.is_splat:
                    return None
                element = ir.ShapedType(typed.type).element_type
                if not isinstance(element, ir.FloatType):
                    return None
                one = ir.FloatAttr.get(element, 1.0)
                return ir.DenseElementsAttr.get_splat(ir.ShapedType(typed.type), one)
        return None

    def _symbols_of(self, order: list[int]) -> list:
        """The module-level ops (a `util.global`, another function) that the ops at `order`
        name by symbol, in module order."""
        ir = self.ir
        names = set()
        for i in order:
            for _, named in walk_attributes(self.ops[i]):
                try:
                    names.add(ir.FlatSymbolRefAttr(named.attr).value)
                except (ValueError, TypeError):
                    continue
        found = []
        for op in self.module.body.operations:
            op = op.operation
            if self._key(op) == self._key(self.function) or "sym_name" not in op.attributes:
                continue
            if ir.StringAttr(op.attributes["sym_name"]).value in names:
                found.append(op)
        return found

    def _pruned(self, kept: frozenset[int]) -> frozenset[int]:
        """`kept` without the makers (an op without operands, or of no tensor) whose every
        user was dropped: dead code, and their torch ints and lists no function returns."""
        kept = set(kept)
        while True:
            used = {hash(v) for i in kept for v in self._used(i)}
            dead = [
                i
                for i in kept
                if i not in self.failing_ops
                and self.ops[i].results
                and not any(hash(r) in used for r in self.ops[i].results)
                and (
                    not self.ops[i].operands
                    or all(tensor_info(r.type, self.ir) is None for r in self.ops[i].results)
                )
            ]
            if not dead:
                return frozenset(kept)
            kept -= set(dead)

    def candidate(self, kept: set[int], splat: frozenset[int] = frozenset()) -> Candidate:
        """The module of one function that runs the ops in `kept` (closed over what they need)."""
        ir, func = self.ir, self.func
        with self.context:
            kept = self._pruned(self.closure(kept))
        order = sorted(kept)
        arguments, outputs, seen = [], [], set()
        used_by_kept = set()
        for i in order:
            for value in self._used(i):
                producer = self._producer(value)
                if producer in kept:
                    used_by_kept.add(hash(value))
                elif hash(value) not in seen:
                    seen.add(hash(value))
                    arguments.append(value)
        with self.context:  # the unused tensors are the results (a torch int is no output)
            for i in order:
                outputs += [
                    r
                    for r in self.ops[i].results
                    if hash(r) not in used_by_kept and tensor_info(r.type, ir) is not None
                ]
        with self.context, ir.Location.unknown():
            module = ir.Module.create()
            with ir.InsertionPoint(module.body):
                for symbol in self._symbols_of(order):  # turbine's weight globals, callees
                    symbol.clone()
                function = func.FuncOp(
                    "main", ([a.type for a in arguments], [r.type for r in outputs])
                )
                entry = function.add_entry_block()
            mapping = {hash(a): entry.arguments[n] for n, a in enumerate(arguments)}
            with ir.InsertionPoint(entry):
                for i in order:
                    original = self.ops[i]
                    clone = original.clone()
                    if i in splat:
                        for named in attributes_of(clone):
                            ones = self._splat_of(named.attr)
                            if ones is not None:
                                clone.attributes[named.name] = ones
                    for old_op, new_op in zip(walk(original), walk(clone), strict=True):
                        for n, value in enumerate(old_op.operands):
                            if hash(value) in mapping:
                                new_op.operands[n] = mapping[hash(value)]
                    for old, new in zip(original.results, clone.results, strict=True):
                        mapping[hash(old)] = new
                func.ReturnOp([mapping[hash(r)] for r in outputs])
            module.operation.verify()
            text = module.operation.get_asm(print_generic_op_form=True)
        return Candidate(kept, text, frozenset(splat) & kept)


def reduce_function(
    function: MlirFunction,
    fails: Callable[[Candidate], bool],
    *,
    on_step: Callable[[str], None] = lambda text: None,
) -> Candidate | None:
    """The smallest candidate found that `fails` the way the whole does; None where no
    candidate does (the repro is then the whole module)."""

    def attempt(kept: set[int], splat: frozenset[int] = frozenset()) -> Candidate | None:
        try:
            candidate = function.candidate(kept, splat)
        except Exception:  # noqa: BLE001 - a cut that does not verify is not a candidate
            return None
        return candidate if fails(candidate) else None

    best, hi = None, function.failing
    for index in function.failing_ops[:MAX_ALONE]:
        best = attempt({index})
        if best is not None:
            hi = index
            on_step(f"the failing op alone fails the same way ({len(best.kept)} ops)")
            break
    if best is None:
        if len(function.failing_ops) > 1:  # none alone: the window ends at the last op
            hi = len(function.ops) - 1
        best = attempt(set(range(hi + 1)))
        if best is None:
            return None
        lo_fail, lo_pass = 0, hi  # window [lo_fail..hi] fails; [lo_pass..hi] did not
        while lo_pass - lo_fail > 1:
            mid = (lo_fail + lo_pass) // 2
            found = attempt(set(range(mid, hi + 1)))
            if found is not None:
                lo_fail, best = mid, found
            else:
                lo_pass = mid
        on_step(f"window of {len(best.kept)} ops fails the same way")
    drops = 0
    for i in sorted(best.kept - {hi}, reverse=True):
        if drops >= MAX_DROPS:
            break
        if i not in best.kept:
            continue
        drops += 1
        found = attempt(set(best.kept) - {i})
        if found is not None and len(found.kept) < len(best.kept):
            best = found
    on_step(f"{len(best.kept)} ops after dropping one at a time")
    # 4. weights that need not be what they are: all made splats of ones at once, else each
    constants = frozenset(i for i in best.kept if function.splattable(i))
    if constants:
        found = attempt(set(best.kept), constants)
        if found is None:
            for i in sorted(constants)[:MAX_DROPS]:
                found_one = attempt(set(best.kept), best.splat | {i})
                if found_one is not None:
                    best = found_one
        else:
            best = found
        on_step(f"{len(best.splat)} of {len(constants)} constants made splats")
    return best
