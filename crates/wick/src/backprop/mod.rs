//! Reverse-mode automatic differentiation.
//!
//! A tensor computed from a [`crate::Var`] (directly or through other tensors) records the op
//! that made it and its inputs; [`Tensor::backward`] walks that graph from a result back to
//! the variables and returns their gradients in a [`GradStore`]. Tensors computed only from
//! tensors that need no gradient record nothing, so inference pays nothing for autograd.

mod grads;

use crate::op::{BinaryKind, UnaryKind};
use crate::{Error, Result, Tensor, TensorId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Convolution hyper-parameters, as recorded for the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvArgs {
    pub padding: usize,
    pub output_padding: usize,
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
}

/// One recorded op: its differentiable inputs and what the backward pass needs to know.
/// Index tensors and masks are stored detached.
pub(crate) enum Op {
    Unary(Tensor, UnaryKind),
    Binary(Tensor, Tensor, BinaryKind),
    /// `x * mul + add`.
    Affine(Tensor, f64),
    Powf(Tensor, f64),
    /// Sum over some dims, output with those dims kept as size 1.
    Sum(Tensor),
    /// Max or min over `dims`, output with those dims kept as size 1.
    MaxMin(Tensor, Vec<usize>),
    Cumsum(Tensor, usize),
    Softmax(Tensor, usize),
    LogSoftmax(Tensor, usize),
    /// Operands of rank >= 2 (rank-1 cases are reshaped around the product).
    Matmul(Tensor, Tensor),
    /// Any change of shape that keeps the row-major order (reshape, squeeze, unsqueeze).
    Reshape(Tensor),
    /// Dim `i` of the output is dim `perm[i]` of the input.
    Permute(Tensor, Vec<usize>),
    /// `(input, dim, start, len)`.
    Narrow(Tensor, usize, usize, usize),
    Broadcast(Tensor),
    /// A copy (contiguous, to_device): the gradient passes unchanged.
    Copy(Tensor),
    ToDType(Tensor),
    Cat(Vec<Tensor>, usize),
    /// `(input, ids, dim)`.
    IndexSelect(Tensor, Tensor, usize),
    Gather(Tensor, Tensor, usize),
    /// `(base, ids, src, dim)`.
    ScatterAdd(Tensor, Tensor, Tensor, usize),
    IndexAdd(Tensor, Tensor, Tensor, usize),
    /// `(condition, on_true, on_false)`.
    WhereCond(Tensor, Tensor, Tensor),
    Conv1d(Tensor, Tensor, ConvArgs),
    Conv2d(Tensor, Tensor, ConvArgs),
    ConvTranspose1d(Tensor, Tensor, ConvArgs),
    ConvTranspose2d(Tensor, Tensor, ConvArgs),
    /// `(input, kernel, stride)`.
    MaxPool2d(Tensor, (usize, usize), (usize, usize)),
    AvgPool2d(Tensor, (usize, usize), (usize, usize)),
    UpsampleNearest2d(Tensor),
}

impl Op {
    /// The inputs gradients flow into.
    fn inputs(&self) -> Vec<&Tensor> {
        use Op::*;
        match self {
            Unary(a, _) | Affine(a, _) | Powf(a, _) | Sum(a) | MaxMin(a, _) | Cumsum(a, _) => vec![a],
            Softmax(a, _) | LogSoftmax(a, _) | Reshape(a) | Permute(a, _) | Narrow(a, ..) => vec![a],
            Broadcast(a) | Copy(a) | ToDType(a) | IndexSelect(a, ..) | Gather(a, ..) => vec![a],
            MaxPool2d(a, ..) | AvgPool2d(a, ..) | UpsampleNearest2d(a) => vec![a],
            Binary(a, b, _) | Matmul(a, b) => vec![a, b],
            Conv1d(a, b, _) | Conv2d(a, b, _) | ConvTranspose1d(a, b, _) | ConvTranspose2d(a, b, _) => {
                vec![a, b]
            }
            ScatterAdd(a, _, s, _) | IndexAdd(a, _, s, _) => vec![a, s],
            WhereCond(_, t, f) => vec![t, f],
            Cat(parts, _) => parts.iter().collect(),
        }
    }
}

/// The op a tensor was computed by, present only when an input tracks gradients.
#[derive(Clone, Default)]
pub(crate) struct BackpropOp(Option<Arc<Op>>);

impl BackpropOp {
    pub(crate) fn none() -> Self {
        BackpropOp(None)
    }

    pub(crate) fn is_some(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn op(&self) -> Option<&Op> {
        self.0.as_deref()
    }

    pub(crate) fn new1(a: &Tensor, f: impl FnOnce(Tensor) -> Op) -> Self {
        if a.track_op() {
            BackpropOp(Some(Arc::new(f(a.clone()))))
        } else {
            BackpropOp(None)
        }
    }

    pub(crate) fn new2(a: &Tensor, b: &Tensor, f: impl FnOnce(Tensor, Tensor) -> Op) -> Self {
        if a.track_op() || b.track_op() {
            BackpropOp(Some(Arc::new(f(a.clone(), b.clone()))))
        } else {
            BackpropOp(None)
        }
    }

    pub(crate) fn new_many(parts: &[&Tensor], f: impl FnOnce(Vec<Tensor>) -> Op) -> Self {
        if parts.iter().any(|t| t.track_op()) {
            BackpropOp(Some(Arc::new(f(parts.iter().map(|&t| t.clone()).collect()))))
        } else {
            BackpropOp(None)
        }
    }
}

/// Gradients of a result with respect to the variables (and intermediate tensors) it was
/// computed from, keyed by tensor identity.
#[derive(Debug, Default)]
pub struct GradStore(HashMap<TensorId, Tensor>);

impl GradStore {
    /// An empty store.
    pub fn new() -> Self {
        GradStore(HashMap::new())
    }
    /// The gradient of `t`, if it took part in the computation.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.0.get(&t.id())
    }
    /// The gradient for a tensor id.
    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.0.get(&id)
    }
    /// Takes the gradient of `t` out of the store.
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.0.remove(&t.id())
    }
    /// Sets the gradient of `t`, returning the previous one.
    pub fn insert(&mut self, t: &Tensor, grad: Tensor) -> Option<Tensor> {
        self.0.insert(t.id(), grad)
    }
    /// The ids that have a gradient.
    pub fn ids(&self) -> impl Iterator<Item = &TensorId> {
        self.0.keys()
    }
    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `grad` to the gradient of `t` (sets it when there is none).
    fn accumulate(&mut self, t: &Tensor, grad: Tensor) -> Result<()> {
        if grad.shape() != t.shape() {
            return Err(Error::shape_mismatch(
                "backward",
                t.shape(),
                grad.shape(),
                "internal error: a gradient does not have its tensor's shape",
            ));
        }
        let g = match self.0.remove(&t.id()) {
            Some(prev) => prev.add(&grad)?,
            None => grad,
        };
        self.0.insert(t.id(), g);
        Ok(())
    }
}

impl Tensor {
    /// Gradients of this tensor with respect to every [`crate::Var`] it was computed from,
    /// by reverse-mode differentiation. The gradient flowing in is one per element (for a
    /// scalar loss, d loss / d loss = 1). Only the variables' gradients are kept.
    ///
    /// ```
    /// use wick::{Device, Tensor, Var};
    /// let x = Var::new(&[1f32, 2., 3.], &Device::Cpu)?;
    /// let loss = x.sqr()?.sum_all()?; // d/dx sum(x²) = 2x
    /// let grads = loss.backward()?;
    /// assert_eq!(grads.get(&x).unwrap().to_vec1::<f32>()?, vec![2., 4., 6.]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn backward(&self) -> Result<GradStore> {
        if !self.dtype().is_float() {
            return Err(Error::unsupported_dtype("backward", self.dtype(), "gradients need a float dtype"));
        }
        let order = self.nodes_in_topological_order();
        let mut grads = GradStore::new();
        if order.is_empty() {
            return Ok(grads);
        }
        grads.0.insert(self.id(), self.ones_like()?.detach());
        // `order` has inputs before the tensors computed from them; walk it backwards.
        for node in order.iter().rev() {
            let Some(op) = node.op().op() else { continue };
            let grad = if node.is_variable() { grads.get(node).cloned() } else { grads.0.remove(&node.id()) };
            let Some(grad) = grad else { continue };
            for (input, g) in grads::input_grads(op, node, &grad)? {
                if input.track_op() {
                    grads.accumulate(&input, g)?;
                }
            }
        }
        // Keep only what users ask for: the leaves' gradients.
        let leaves: HashSet<TensorId> = order.iter().filter(|t| t.is_variable()).map(|t| t.id()).collect();
        grads.0.retain(|id, _| leaves.contains(id));
        Ok(grads)
    }

    /// Every tensor that tracks gradients and that `self` depends on (itself included),
    /// each after all of its inputs. Iterative, so deep graphs cannot overflow the stack.
    fn nodes_in_topological_order(&self) -> Vec<Tensor> {
        let mut order = Vec::new();
        if !self.track_op() {
            return order;
        }
        let mut seen: HashSet<TensorId> = HashSet::new();
        // (tensor, whether its inputs were already pushed)
        let mut stack: Vec<(Tensor, bool)> = vec![(self.clone(), false)];
        while let Some((t, expanded)) = stack.pop() {
            if expanded {
                order.push(t);
                continue;
            }
            if !seen.insert(t.id()) {
                continue;
            }
            let inputs: Vec<Tensor> = match t.op().op() {
                Some(op) => op.inputs().into_iter().filter(|i| i.track_op()).cloned().collect(),
                None => Vec::new(),
            };
            stack.push((t, true));
            for i in inputs {
                if !seen.contains(&i.id()) {
                    stack.push((i, false));
                }
            }
        }
        order
    }
}
