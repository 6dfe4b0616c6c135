"""Dynamixel Protocol 2.0 motors: the packet codec (`protocol`), control tables and units (`tables`), the
bus over the vendor SDK (`bus`), simulated motors (`simulated_motor`) behind an in-memory bus (`fake_bus`)
and a byte-level test double on a pseudo-terminal (`double`)."""
