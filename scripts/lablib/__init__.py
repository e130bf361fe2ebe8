"""pathlab lab runner library (scripts/lab): topologies -> namespaces, veths and
a pathlab config.  See docs/lab.md."""
