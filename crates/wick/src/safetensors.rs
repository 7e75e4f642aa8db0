//! safetensors files: load, memory-map (one or several shards) and save.
