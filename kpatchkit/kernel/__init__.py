"""Services several stages share: C function spans, kbuild (config, prepare, objects, images),
selftest builds, git plumbing. Stages use this layer; it never imports a stage."""
