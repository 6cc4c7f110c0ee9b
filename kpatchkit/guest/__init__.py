"""A service below run, claims and lava: boot a kernel under QEMU with an initramfs of tests and
read back what happened. It imports no stage.

- :mod:`~kpatchkit.guest.lists`: the upstream regression lists (``data/upstream-<ver>.toml``)
  with their known failures, ``--tests`` selections, gen-tests' tests as guest tests;
- :mod:`~kpatchkit.guest.prepare`: the kernels' fragments and one guest preparation (the tests
  the tree has, their binaries, scaled timeouts, the initramfs), the same for a local run and a
  LAVA job;
- :mod:`~kpatchkit.guest.initramfs`: ``GuestTest``, ``data/guest.toml`` and the initramfs
  (busybox, ``data/init.sh``, the test list and binaries);
- :mod:`~kpatchkit.guest.qemu`: the QEMU launcher and its watchdog;
- :mod:`~kpatchkit.guest.shard`: one kernel's tests over several guests;
- :mod:`~kpatchkit.guest.collect` (with :mod:`~kpatchkit.guest.tap` and
  :mod:`~kpatchkit.guest.splats`, ``data/splats.toml``): a guest's logs as test results;
- :mod:`~kpatchkit.guest.compare`: base and patched results side by side, the summary.
"""
