//! NumPy `.npz` archives (zip of `.npy` members).
