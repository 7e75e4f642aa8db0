//! PyTorch `.pth`/`.bin` checkpoints through a safe, allow-listed unpickler.
