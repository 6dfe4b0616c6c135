"""FLASH bringup: launch files live in the repository's launch/ folder, parameters in config/."""
