"""The only package that opens media: probe it, plan the frames, decode once, share as memmaps."""
