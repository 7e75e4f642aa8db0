//! A safe pickle reader: a small stack machine that understands the opcodes `torch.save`
//! emits for state dicts (protocols 2 to 5) and an allow-list of globals that it interprets
//! itself. Nothing is ever imported or called: an allow-listed global is a tag the machine
//! knows how to apply (`_rebuild_tensor_v2` builds a [`TensorRef`], `OrderedDict` an empty
//! dict), and any other global (`os.system`, `builtins.eval`, ...) stops the load with an
//! error naming it.
//!
//! Containers live in an arena and the stack holds indices into it, so shared and even
//! self-referential objects cost nothing to build; the result is then copied out into a
//! [`Value`] tree under a depth limit and a size budget, which a cyclic or exponentially
//! shared pickle exceeds with an error rather than a hang.
//!
//! The opcode reference is CPython's `Lib/pickletools.py`.

use super::value::UNSUPPORTED_DTYPES;
pub use super::value::{StorageRef, TensorRef, TorchDType, Value};
use crate::{Error, Result};
use std::collections::HashMap;
use std::rc::Rc;

const FORMAT: &str = "pth";

/// Nesting of MARKs (open tuples, lists, dicts being built).
const MAX_MARK_DEPTH: usize = 1_000;
/// Values on the stack, all MARK levels together.
const MAX_STACK: usize = 1 << 22;
/// Memo entries.
const MAX_MEMO: usize = 1 << 21;
/// Objects (containers, tensors, storages, globals) created.
const MAX_OBJECTS: usize = 1 << 21;
/// Depth of the exported value tree.
const MAX_DEPTH: usize = 128;
/// Nodes of the exported value tree (shared objects count once per reference).
const MAX_NODES: usize = 1 << 20;
/// String and byte payload of the exported tree, in bytes.
const MAX_PAYLOAD: usize = 256 << 20;
/// Rank of a tensor.
const MAX_RANK: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// A storage class; `None` is `UntypedStorage`.
    Storage(Option<TorchDType>),
    DType(TorchDType),
    /// `torch.Tensor` or `torch.nn.parameter.Parameter`, used as a type argument only.
    TensorType(&'static str),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Result<Global> {
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
            ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
            ("torch", "Tensor") | ("torch._tensor", "Tensor") => Global::TensorType("torch.Tensor"),
            ("torch.nn.parameter", "Parameter") => Global::TensorType("torch.nn.parameter.Parameter"),
            ("torch", "UntypedStorage") | ("torch.storage", "UntypedStorage") => Global::Storage(None),
            ("torch", n) if n.ends_with("Storage") => match TorchDType::from_storage_name(n) {
                Some(dt) => Global::Storage(Some(dt)),
                None => return Err(Error::format(FORMAT, format!("unsupported storage type torch.{n}"))),
            },
            ("torch", n) if UNSUPPORTED_DTYPES.contains(&n) => {
                return Err(Error::format(FORMAT, format!("unsupported tensor dtype torch.{n}")))
            }
            ("torch", n) => match TorchDType::from_dtype_name(n) {
                Some(dt) => Global::DType(dt),
                None => return Err(refuse(module, name)),
            },
            _ => return Err(refuse(module, name)),
        })
    }

    fn name(self) -> String {
        match self {
            Global::OrderedDict => "collections.OrderedDict".into(),
            Global::RebuildTensor => "torch._utils._rebuild_tensor".into(),
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2".into(),
            Global::RebuildTensorV3 => "torch._utils._rebuild_tensor_v3".into(),
            Global::RebuildParameter => "torch._utils._rebuild_parameter".into(),
            Global::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state".into(),
            Global::RebuildFromTypeV2 => "torch._tensor._rebuild_from_type_v2".into(),
            Global::Storage(Some(dt)) => format!("torch storage of {}", dt.name()),
            Global::Storage(None) => "torch.storage.UntypedStorage".into(),
            Global::DType(dt) => format!("torch.{}", dt.name()),
            Global::TensorType(n) => n.into(),
        }
    }
}

fn refuse(module: &str, name: &str) -> Error {
    Error::format(
        FORMAT,
        format!(
            "refusing pickle global {module}.{name}: it is not on the allow-list (wick loads only dense \
             tensors and plain containers, and never runs code from a pickle)"
        ),
    )
}

/// A value on the machine's stack: scalars inline, everything else in the arena.
#[derive(Debug, Clone)]
enum Item {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Obj(usize),
}

#[derive(Debug)]
enum Obj {
    // Tensors and storages are boxed so that every object is small: a hostile pickle's
    // memory use stays a small multiple of its length.
    List(Vec<Item>),
    Tuple(Vec<Item>),
    Dict(Vec<(Item, Item)>),
    Global(Global),
    Storage(Box<StorageRef>),
    Tensor(Box<TensorRef>),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    marks: Vec<Vec<Item>>,
    stacked: usize,
    memo: HashMap<u32, Item>,
    objs: Vec<Obj>,
}

fn err(msg: impl Into<String>) -> Error {
    Error::format(FORMAT, msg.into())
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            err(format!(
                "pickle truncated: {what} at byte {} needs {n} bytes, {} remain",
                self.pos,
                self.data.len().saturating_sub(self.pos)
            ))
        })?;
        let s = self.data.get(self.pos..end).ok_or_else(|| err("pickle: read out of range"))?;
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn len_u32(&mut self, what: &str) -> Result<usize> {
        Ok(u32::from_le_bytes(self.arr(what)?) as usize)
    }

    fn len_u64(&mut self, what: &str) -> Result<usize> {
        let n = u64::from_le_bytes(self.arr(what)?);
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn line(&mut self, what: &str) -> Result<&'a str> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| err(format!("pickle truncated in {what}")))?;
        let s = self.take(n, what)?;
        self.pos = self.pos.saturating_add(1);
        std::str::from_utf8(s).map_err(|_| err(format!("{what} is not valid UTF-8")))
    }

    fn string(&mut self, n: usize, what: &str) -> Result<Item> {
        let s = self.take(n, what)?;
        let s = std::str::from_utf8(s).map_err(|_| err(format!("{what} is not valid UTF-8")))?;
        Ok(Item::Str(Rc::from(s)))
    }

    fn push(&mut self, it: Item) -> Result<()> {
        if self.stacked >= MAX_STACK {
            return Err(err(format!("pickle stack exceeds {MAX_STACK} values")));
        }
        self.stacked += 1;
        self.stack.push(it);
        Ok(())
    }

    fn pop(&mut self, op: u8) -> Result<Item> {
        let it = self
            .stack
            .pop()
            .ok_or_else(|| err(format!("pickle stack underflow at opcode 0x{op:02x} (byte {})", self.pos)))?;
        self.stacked = self.stacked.saturating_sub(1);
        Ok(it)
    }

    fn top(&self, op: u8) -> Result<&Item> {
        self.stack
            .last()
            .ok_or_else(|| err(format!("pickle stack underflow at opcode 0x{op:02x} (byte {})", self.pos)))
    }

    fn pop_mark(&mut self, op: u8) -> Result<Vec<Item>> {
        let prev = self
            .marks
            .pop()
            .ok_or_else(|| err(format!("pickle opcode 0x{op:02x} at byte {} without a MARK", self.pos)))?;
        let items = std::mem::replace(&mut self.stack, prev);
        self.stacked = self.stacked.saturating_sub(items.len());
        Ok(items)
    }

    fn alloc(&mut self, o: Obj) -> Result<Item> {
        if self.objs.len() >= MAX_OBJECTS {
            return Err(err(format!("pickle creates more than {MAX_OBJECTS} objects")));
        }
        self.objs.push(o);
        Ok(Item::Obj(self.objs.len() - 1))
    }

    fn obj(&self, it: &Item) -> Option<&Obj> {
        match it {
            Item::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }

    fn memo_put(&mut self, idx: u32) -> Result<()> {
        let it = self.top(b'q')?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&idx) {
            return Err(err(format!("pickle memo exceeds {MAX_MEMO} entries")));
        }
        self.memo.insert(idx, it);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> Result<()> {
        let it =
            self.memo.get(&idx).cloned().ok_or_else(|| err(format!("pickle memo key {idx} is not set")))?;
        self.push(it)
    }

    fn int(&self, it: &Item, what: &str) -> Result<usize> {
        match it {
            Item::Int(i) => usize::try_from(*i).map_err(|_| err(format!("{what} {i} is negative"))),
            _ => Err(err(format!("{what} must be an integer"))),
        }
    }

    fn int_tuple(&self, it: &Item, what: &str) -> Result<Vec<usize>> {
        match self.obj(it) {
            Some(Obj::Tuple(v)) | Some(Obj::List(v)) => {
                if v.len() > MAX_RANK {
                    return Err(err(format!("{what} has {} dims, more than {MAX_RANK}", v.len())));
                }
                v.iter().map(|x| self.int(x, what)).collect()
            }
            _ => Err(err(format!("{what} must be a tuple of integers"))),
        }
    }

    /// The items of a tuple of at most `max` items (checked before anything is copied).
    fn tuple_items(&self, it: &Item, what: &str, max: usize) -> Result<Vec<Item>> {
        match self.obj(it) {
            Some(Obj::Tuple(v)) if v.len() <= max => Ok(v.clone()),
            Some(Obj::Tuple(v)) => Err(err(format!("{what} has {} items, more than {max}", v.len()))),
            _ => Err(err(format!("{what} must be a tuple"))),
        }
    }

    fn call(&mut self, f: &Item, args: &Item, depth: usize) -> Result<Item> {
        let g = match self.obj(f) {
            Some(Obj::Global(g)) => *g,
            _ => return Err(err("pickle calls something that is not an allow-listed global")),
        };
        let args = self.tuple_items(args, &format!("arguments of {}", g.name()), 8)?;
        match g {
            Global::OrderedDict if args.is_empty() => self.alloc(Obj::Dict(Vec::new())),
            Global::RebuildTensor | Global::RebuildTensorV2 | Global::RebuildTensorV3 => {
                let (min_args, dtype_arg) = match g {
                    Global::RebuildTensor => (4, None),
                    Global::RebuildTensorV2 => (6, None),
                    _ => (7, Some(6)),
                };
                if args.len() < min_args || args.len() > min_args + 1 {
                    return Err(err(format!("{} takes {min_args} arguments, got {}", g.name(), args.len())));
                }
                let storage = match args.first().and_then(|a| self.obj(a)) {
                    Some(Obj::Storage(s)) => (**s).clone(),
                    _ => return Err(err(format!("{}: the first argument is not a storage", g.name()))),
                };
                let dtype = match dtype_arg.and_then(|i| args.get(i)).map(|a| self.obj(a)) {
                    None => {
                        storage.dtype.ok_or_else(|| err("a tensor of an untyped storage needs a dtype"))?
                    }
                    Some(Some(Obj::Global(Global::DType(dt)))) => *dt,
                    Some(_) => return Err(err(format!("{}: the dtype argument is not a dtype", g.name()))),
                };
                let arg = |i: usize| args.get(i).cloned().unwrap_or(Item::None);
                let offset = self.int(&arg(1), "storage offset")?;
                let shape = self.int_tuple(&arg(2), "tensor size")?;
                let stride = self.int_tuple(&arg(3), "tensor stride")?;
                if shape.len() != stride.len() {
                    return Err(err(format!("tensor size {shape:?} and stride {stride:?} differ in rank")));
                }
                self.alloc(Obj::Tensor(Box::new(TensorRef { storage, dtype, offset, shape, stride })))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => match args.first() {
                Some(t @ Item::Obj(_)) if matches!(self.obj(t), Some(Obj::Tensor(_))) => Ok(t.clone()),
                _ => Err(err(format!("{}: the first argument is not a tensor", g.name()))),
            },
            Global::RebuildFromTypeV2 if depth == 0 => {
                // (func, new_type, args, state): the subclass and its state do not change the data.
                match args.get(1).and_then(|a| self.obj(a)) {
                    Some(Obj::Global(Global::TensorType(_))) => {}
                    _ => return Err(err("_rebuild_from_type_v2: the type is not torch.Tensor or Parameter")),
                }
                let (func, inner) = match (args.first(), args.get(2)) {
                    (Some(f), Some(a)) if args.len() == 4 => (f.clone(), a.clone()),
                    _ => return Err(err("_rebuild_from_type_v2 takes 4 arguments")),
                };
                self.call(&func, &inner, 1)
            }
            _ => Err(err(format!("{} cannot be called with {} arguments here", g.name(), args.len()))),
        }
    }

    fn persistent_load(&mut self, pid: &Item) -> Result<Item> {
        let items = self.tuple_items(pid, "persistent id", 5)?;
        let [tag, ty, key, _location, numel] = items.as_slice() else {
            return Err(err(format!("unsupported persistent id with {} fields", items.len())));
        };
        match tag {
            Item::Str(s) if &**s == "storage" => {}
            _ => return Err(err("unsupported persistent id (not a 'storage' record)")),
        }
        let dtype = match self.obj(ty) {
            Some(Obj::Global(Global::Storage(dt))) => *dt,
            _ => return Err(err("persistent id: the storage type is not a storage class")),
        };
        let key = match key {
            Item::Str(s) => s.to_string(),
            _ => return Err(err("persistent id: the storage key is not a string")),
        };
        let numel = self.int(numel, "storage size")?;
        self.alloc(Obj::Storage(Box::new(StorageRef { key, dtype, numel })))
    }

    fn run(&mut self) -> Result<Item> {
        loop {
            let at = self.pos;
            let [op] = self.arr::<1>("opcode").map_err(|_| err("pickle ends without a STOP opcode"))?;
            match op {
                0x80 => {
                    let [v] = self.arr::<1>("PROTO")?;
                    if v > 5 {
                        return Err(err(format!("unsupported pickle protocol {v}")));
                    }
                }
                0x95 => {
                    let n = self.len_u64("FRAME")?;
                    if n > self.data.len().saturating_sub(self.pos) {
                        return Err(err(format!("pickle FRAME of {n} bytes runs past the end")));
                    }
                }
                b'.' => return self.pop(op),
                b'(' => {
                    if self.marks.len() >= MAX_MARK_DEPTH {
                        return Err(err(format!("pickle nesting (MARK depth) exceeds {MAX_MARK_DEPTH}")));
                    }
                    let cur = std::mem::take(&mut self.stack);
                    self.marks.push(cur);
                }
                b'0' => drop(self.pop(op)?),
                b'1' => drop(self.pop_mark(op)?),
                b'2' => {
                    let it = self.top(op)?.clone();
                    self.push(it)?;
                }
                b'N' => self.push(Item::None)?,
                0x88 => self.push(Item::Bool(true))?,
                0x89 => self.push(Item::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.arr("BININT")?);
                    self.push(Item::Int(i64::from(v)))?;
                }
                b'K' => {
                    let [v] = self.arr::<1>("BININT1")?;
                    self.push(Item::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.arr("BININT2")?);
                    self.push(Item::Int(i64::from(v)))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        usize::from(self.arr::<1>("LONG1")?[0])
                    } else {
                        self.len_u32("LONG4")?
                    };
                    let b = self.take(n, "LONG")?;
                    if n > 8 {
                        return Err(err(format!("pickle integer of {n} bytes does not fit i64")));
                    }
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) { 0xff } else { 0 };
                    let mut a = [fill; 8];
                    a.get_mut(..n).unwrap_or_default().copy_from_slice(b);
                    self.push(Item::Int(i64::from_le_bytes(a)))?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.arr("BINFLOAT")?);
                    self.push(Item::Float(v))?;
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.len_u32("BINUNICODE")?,
                        0x8c => usize::from(self.arr::<1>("SHORT_BINUNICODE")?[0]),
                        _ => self.len_u64("BINUNICODE8")?,
                    };
                    let s = self.string(n, "string")?;
                    self.push(s)?;
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => self.len_u32("BINBYTES")?,
                        b'C' => usize::from(self.arr::<1>("SHORT_BINBYTES")?[0]),
                        _ => self.len_u64("BINBYTES8")?,
                    };
                    let b = self.take(n, "bytes")?;
                    self.push(Item::Bytes(Rc::from(b)))?;
                }
                b'}' => {
                    let d = self.alloc(Obj::Dict(Vec::new()))?;
                    self.push(d)?;
                }
                b']' => {
                    let l = self.alloc(Obj::List(Vec::new()))?;
                    self.push(l)?;
                }
                b')' => {
                    let t = self.alloc(Obj::Tuple(Vec::new()))?;
                    self.push(t)?;
                }
                b't' | b'l' | b'd' => {
                    let items = self.pop_mark(op)?;
                    let o = match op {
                        b't' => Obj::Tuple(items),
                        b'l' => Obj::List(items),
                        _ => Obj::Dict(pairs(items, at)?),
                    };
                    let it = self.alloc(o)?;
                    self.push(it)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(op)?);
                    }
                    items.reverse();
                    let it = self.alloc(Obj::Tuple(items))?;
                    self.push(it)?;
                }
                b'q' => {
                    let [i] = self.arr::<1>("BINPUT")?;
                    self.memo_put(u32::from(i))?;
                }
                b'r' => {
                    let i = u32::from_le_bytes(self.arr("LONG_BINPUT")?);
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).map_err(|_| err("pickle memo too large"))?;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let [i] = self.arr::<1>("BINGET")?;
                    self.memo_get(u32::from(i))?;
                }
                b'j' => {
                    let i = u32::from_le_bytes(self.arr("LONG_BINGET")?);
                    self.memo_get(i)?;
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop(op)?;
                        let k = self.pop(op)?;
                        vec![(k, v)]
                    } else {
                        let items = self.pop_mark(op)?;
                        pairs(items, at)?
                    };
                    let target = self.top(op)?.clone();
                    match target {
                        Item::Obj(i) => match self.objs.get_mut(i) {
                            Some(Obj::Dict(d)) => d.extend(items),
                            _ => return Err(err(format!("pickle SETITEM(S) at byte {at} on a non-dict"))),
                        },
                        _ => return Err(err(format!("pickle SETITEM(S) at byte {at} on a non-dict"))),
                    }
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop(op)?] } else { self.pop_mark(op)? };
                    let target = self.top(op)?.clone();
                    match target {
                        Item::Obj(i) => match self.objs.get_mut(i) {
                            Some(Obj::List(l)) => l.extend(items),
                            _ => return Err(err(format!("pickle APPEND(S) at byte {at} on a non-list"))),
                        },
                        _ => return Err(err(format!("pickle APPEND(S) at byte {at} on a non-list"))),
                    }
                }
                b'c' => {
                    let module = self.line("GLOBAL module")?;
                    let name = self.line("GLOBAL name")?;
                    let g = Global::resolve(module, name)?;
                    let it = self.alloc(Obj::Global(g))?;
                    self.push(it)?;
                }
                0x93 => {
                    let name = self.pop(op)?;
                    let module = self.pop(op)?;
                    let g = match (&module, &name) {
                        (Item::Str(m), Item::Str(n)) => Global::resolve(m, n)?,
                        _ => return Err(err("STACK_GLOBAL needs two strings")),
                    };
                    let it = self.alloc(Obj::Global(g))?;
                    self.push(it)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop(op)?;
                    let f = self.pop(op)?;
                    let r = self.call(&f, &args, 0)?;
                    self.push(r)?;
                }
                b'b' => {
                    // BUILD sets attributes (`_metadata` of a state dict, a parameter's
                    // state); none of them changes tensor data, so the state is dropped.
                    self.pop(op)?;
                    self.top(op)?;
                }
                b'Q' => {
                    let pid = self.pop(op)?;
                    let s = self.persistent_load(&pid)?;
                    self.push(s)?;
                }
                _ => return Err(err(format!("unsupported pickle opcode 0x{op:02x} at byte {at}"))),
            }
        }
    }

    /// Copies an item out of the arena into a tree.
    fn export(&self, it: &Item, depth: usize, budget: &mut (usize, usize)) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(err(format!("pickle nests deeper than {MAX_DEPTH} levels (or refers to itself)")));
        }
        budget.0 = budget.0.saturating_add(1);
        if budget.0 > MAX_NODES {
            return Err(err(format!("pickle expands to more than {MAX_NODES} values")));
        }
        let d = depth.saturating_add(1);
        Ok(match it {
            Item::None => Value::None,
            Item::Bool(b) => Value::Bool(*b),
            Item::Int(i) => Value::Int(*i),
            Item::Float(f) => Value::Float(*f),
            Item::Str(s) => {
                pay(budget, s.len())?;
                Value::Str(s.to_string())
            }
            Item::Bytes(b) => {
                pay(budget, b.len())?;
                Value::Bytes(b.to_vec())
            }
            Item::Obj(i) => match self.objs.get(*i) {
                None => return Err(err("pickle: dangling object reference")),
                Some(Obj::List(v)) => {
                    Value::List(v.iter().map(|x| self.export(x, d, budget)).collect::<Result<_>>()?)
                }
                Some(Obj::Tuple(v)) => {
                    Value::Tuple(v.iter().map(|x| self.export(x, d, budget)).collect::<Result<_>>()?)
                }
                Some(Obj::Dict(v)) => Value::Dict(
                    v.iter()
                        .map(|(k, x)| Ok((self.export(k, d, budget)?, self.export(x, d, budget)?)))
                        .collect::<Result<_>>()?,
                ),
                Some(Obj::Global(g)) => Value::Global(g.name()),
                Some(Obj::Storage(s)) => {
                    pay(budget, s.key.len())?;
                    Value::Storage(s.clone())
                }
                Some(Obj::Tensor(t)) => {
                    pay(budget, t.storage.key.len().saturating_add(t.shape.len().saturating_mul(16)))?;
                    Value::Tensor(t.clone())
                }
            },
        })
    }
}

/// Charges `n` bytes of strings to the export budget.
fn pay(budget: &mut (usize, usize), n: usize) -> Result<()> {
    budget.1 = budget.1.saturating_add(n);
    if budget.1 > MAX_PAYLOAD {
        return Err(err(format!("pickle expands to more than {MAX_PAYLOAD} bytes of strings")));
    }
    Ok(())
}

/// Pairs up `k1, v1, k2, v2, ...`.
fn pairs(items: Vec<Item>, at: usize) -> Result<Vec<(Item, Item)>> {
    if !items.len().is_multiple_of(2) {
        return Err(err(format!("pickle SETITEMS/DICT at byte {at} has an odd number of values")));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// Interprets a pickle with a safe stack machine, giving the object it describes.
///
/// Only the opcodes `torch.save` uses (protocols 2 to 5: containers, scalars, strings, memo,
/// `GLOBAL`/`STACK_GLOBAL`, `REDUCE`, `NEWOBJ`, `BUILD`, `BINPERSID`) are understood, and only
/// allow-listed globals are accepted: the `torch._utils._rebuild_tensor*` and
/// `_rebuild_parameter*` functions, `torch._tensor._rebuild_from_type_v2`, the storage classes
/// and dtypes wick can represent, `torch.Tensor`, `torch.nn.parameter.Parameter` and
/// `collections.OrderedDict`. The machine applies them itself; any other global (`os.system`,
/// `builtins.eval`, ...) is refused with an [`Error::Format`] naming it, and nothing is ever
/// imported or called. `BUILD` state (attributes such as a state dict's `_metadata`) is
/// dropped. The nesting, stack, memo, object count and the size of the result are bounded, so
/// a deep, cyclic or exponentially shared pickle gives an error, not a hang or an abort.
/// Storages are not read: tensors come back as [`TensorRef`]s.
///
/// ```
/// use wick::pth::{unpickle, Value};
/// // {'a': 1} in protocol 2.
/// let v = unpickle(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.")?;
/// assert_eq!(v, Value::Dict(vec![(Value::Str("a".into()), Value::Int(1))]));
/// let e = unpickle(b"cos\nsystem\n(X\x02\x00\x00\x00lstR.").unwrap_err();
/// assert!(e.to_string().contains("os.system"));
/// # Ok::<(), wick::Error>(())
/// ```
pub fn unpickle(bytes: &[u8]) -> Result<Value> {
    let mut m = Machine {
        data: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        stacked: 0,
        memo: HashMap::new(),
        objs: Vec::new(),
    };
    let root = m.run()?;
    m.export(&root, 0, &mut (0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(bytes: &[u8]) -> String {
        unpickle(bytes).unwrap_err().to_string()
    }

    #[test]
    fn refuses_globals_not_on_the_list() {
        assert!(msg(b"cbuiltins\neval\n.").contains("builtins.eval"));
        assert!(msg(b"\x80\x04\x8c\x05posix\x8c\x06system\x93.").contains("posix.system"));
        assert!(msg(b"ctorch\nComplexFloatStorage\n.")
            .contains("unsupported storage type torch.ComplexFloatStorage"));
        assert!(msg(b"ctorch\nfloat8_e4m3fn\n.").contains("unsupported tensor dtype"));
        assert!(msg(b"ctorch\nload\n.").contains("refusing pickle global torch.load"));
    }

    #[test]
    fn limits() {
        assert!(msg(&[b'('; 5000]).contains("MARK depth"));
        // A list that contains itself.
        assert!(msg(b"]q\x00h\x00a.").contains("deeper than"));
        // Billion laughs: each level a list of two references to the previous one.
        let mut p = b"]q\x00".to_vec();
        for i in 0..40u8 {
            p.extend_from_slice(&[b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
        }
        p.push(b'.');
        assert!(msg(&p).contains("more than"));
        assert!(msg(b"\x8d\xff\xff\xff\xff\xff\xff\xff\x0f.").contains("truncated"));
        assert!(msg(b"K\x01").contains("without a STOP"));
        assert!(msg(b"s.").contains("underflow"));
        assert!(msg(b"\xfe.").contains("opcode 0xfe"));
        assert!(msg(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.").contains("does not fit"));
    }

    #[test]
    fn scalars_and_containers() {
        let v = unpickle(b"\x80\x02(K\x01J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80\x88NG?\xf8\x00\x00\x00\x00\x00\x00C\x01zt.")
            .unwrap();
        assert_eq!(
            v,
            Value::Tuple(vec![
                Value::Int(1),
                Value::Int(-1),
                Value::Int(256),
                Value::Int(-32768),
                Value::Bool(true),
                Value::None,
                Value::Float(1.5),
                Value::Bytes(b"z".to_vec()),
            ])
        );
    }
}
