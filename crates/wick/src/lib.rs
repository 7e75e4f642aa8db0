//! # wick
//!
//! A minimalist machine-learning framework for fast, lean inference: n-dimensional tensors on
//! the CPU with NumPy/PyTorch semantics, written so that a bad input returns an [`Error`]
//! naming the op and the shapes, never a panic.
//!
//! ```
//! use wick::{DType, Device, Tensor, D};
//! let dev = Device::Cpu;
//! let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
//! let b = Tensor::from_vec(vec![0f32; 6], (2, 3), &dev)?;
//! let r = Tensor::randn(0f32, 1.0, (2, 3), &dev)?;
//! let c = a.matmul(&b)?.add(&r)?;
//! let s = c.softmax(D::Minus1)?.sum_keepdim(1)?;
//! let v: Vec<Vec<f32>> = s.to_vec2()?;
//! assert!((v[0][0] - 1.0).abs() < 1e-6);
//! # Ok::<(), wick::Error>(())
//! ```
#![warn(missing_docs)]

pub mod backend;
mod backprop;
pub mod cpu;
mod device;
pub mod dtype;
mod error;
pub mod gguf;
mod layout;
pub mod npy;
pub mod npz;
pub mod op;
pub mod ops;
pub mod pth;
pub mod quantized;
pub mod safetensors;
mod shape;
mod tensor;
mod var;

pub use backend::{BackendStorage, Storage};
pub use backprop::GradStore;
pub use device::{num_threads, run_in_pool, set_num_threads, Device};
pub use dtype::{DType, FloatDType, WithDType};
pub use error::{Context, Error, Result};
pub use layout::{Layout, StridedBlocks, StridedIndex};
pub use shape::{Dim, Dims, Shape, D};
pub use tensor::{IndexOp, NdArray, Tensor, TensorId, TensorIndexer};
pub use var::Var;
