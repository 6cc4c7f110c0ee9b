"""kpatchkit.lava: the run matrix as LAVA jobs, and LAVA's results back as a local run's records.

- :mod:`kpatchkit.lava.jobs`: ``write_jobs`` renders one job per kernel x test group for the
  ``qemu`` device type (templates/job.yaml.j2, Jinja2 with StrictUndefined) and writes
  ``manifest.json``; ``local_device`` renders a device dictionary for ``lava-run`` here.
- :mod:`kpatchkit.lava.build`: ``build_matrix`` builds the run stage's kernels and initramfs
  without booting them, then writes the jobs (``kpatchkit run/review --lava-out DIR``).
- :mod:`kpatchkit.lava.results`: ``run_from_lava`` reads LAVA's results export (and, when given,
  the jobs' logs) into the run stage's JSON (``kpatchkit report --from-lava``).
"""
