"""Driver compatibility: image CUDA vs node driver vs GPU architecture, and the stack around them."""
