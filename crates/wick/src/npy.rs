//! NumPy `.npy` files: `Tensor::read_npy`, `Tensor::write_npy` and in-memory variants.
