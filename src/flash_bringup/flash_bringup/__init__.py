"""FLASH bringup: the node graph (config/graph.yaml), its launch actions and the `flash bringup` runner."""
