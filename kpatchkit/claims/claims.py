"""The claims table: each number the commit message states, what we ran, what we measured.

Claims and verdict thresholds are data (``data/claims.toml``). For every claim the closest
measured configuration with the same firmware and guest kind is chosen (largest vCPU count,
then memory), under the THP setting that saved most (the claim does not state THP; QEMU
madvises guest RAM for huge pages, so the distro default ``madvise`` behaves like ``always``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpatchkit.knowledge import ListOf, Opt, load_toml
from kpatchkit.records.claims import BootComparison, ClaimVerdict, InfraEvent

CLAIMS = Path(__file__).with_name("data") / "claims.toml"
SCHEMA = {
    "verdict": {"reproduced_share": float, "noise_sigmas": float, "partly_share": float},
    "claim": ListOf({"id": str, "statement": str, "claimed": float, "claim_config": str,
                     "approximation": Opt(str), "firmware": str, "guest": str, "vcpus": int,
                     "mem_mb": int}, min=1),
}


def load_claims(path: Path = CLAIMS) -> dict[str, Any]:
    """The claims file as a dict: ``verdict`` thresholds and the ``claim`` list."""
    return load_toml(path, SCHEMA)


def _usable(c: BootComparison) -> bool:
    return c.faults_saved_per_boot is not None and c.base_retried is not None


def closest(comparisons: list[BootComparison], claim: dict[str, Any]) -> list[BootComparison]:
    """Usable comparisons for the claim's firmware and guest, closest configuration first."""
    cands = [c for c in comparisons if _usable(c) and c.firmware == claim["firmware"]
             and c.guest == claim["guest"]]

    def distance(c: BootComparison) -> tuple:
        # Fewer missing vCPUs first, then memory nearest the claim's (never above it counts
        # as nearer than below), then the bigger saving.
        return (max(0, claim["vcpus"] - c.vcpus), abs(claim["mem_mb"] - c.mem_mb),
                -(c.faults_saved_per_boot.mean if c.faults_saved_per_boot else 0))

    return sorted(cands, key=distance)


def _describe(c: BootComparison, data_mb: int | None) -> str:
    d = c.faults_saved_per_boot
    assert d is not None and c.base_pf_taken and c.patched_pf_taken and c.base_retried
    text = (f"{c.firmware}, THP {c.thp}, {c.vcpus} vCPU, {c.mem_mb} MB, guest {c.guest}"
            + (f" reading {data_mb} MB" if data_mb and c.guest != "diskless" else "")
            + f": pf_taken base {c.base_pf_taken.mean:g} (sd {c.base_pf_taken.stdev:g}, "
            f"n={c.base_pf_taken.n}) vs patched {c.patched_pf_taken.mean:g} "
            f"(sd {c.patched_pf_taken.stdev:g}, n={c.patched_pf_taken.n}); saved "
            f"{d.mean:g} ± {d.stdev:g} [{d.low:g}, {d.high:g}]; base retried faults "
            f"{c.base_retried.mean:g}")
    return text


def judge(comparisons: list[BootComparison], infra: list[InfraEvent] | None = None,
          data_mb: int | None = None, claims: dict[str, Any] | None = None
          ) -> list[ClaimVerdict]:
    """A verdict per claim from the measured base/patched comparisons."""
    claims = claims or load_claims()
    rules = claims["verdict"]
    out = []
    for claim in claims["claim"]:
        cands = closest(comparisons, claim)
        claimed = float(claim["claimed"])
        if not cands:
            mine = [e for e in (infra or []) if claim["firmware"] in e.detail]
            crashes = [e for e in mine if e.kind != "skipped"]
            skipped = [e for e in mine if e.kind == "skipped"]
            why = (f"no completed {claim['firmware']} boot on both kernels"
                   + (f"; {len(crashes)} test-VM launch(es) crashed, e.g. {crashes[0].kind}: "
                      f"{crashes[0].detail}" if crashes else "")
                   + (f"; {'; '.join(e.kernel + ': ' + e.detail for e in skipped)}"
                      if skipped else ""))
            out.append(ClaimVerdict(id=claim["id"], statement=claim["statement"],
                                    claimed=claimed, claim_config=claim["claim_config"],
                                    our_config="-", measured=None, measured_detail="",
                                    verdict="not measured", reason=why))
            continue
        # Same size as the best candidate, THP setting with the larger saving.
        top = cands[0]
        same = [c for c in cands if (c.vcpus, c.mem_mb) == (top.vcpus, top.mem_mb)]
        best = max(same, key=lambda c: c.faults_saved_per_boot.mean)  # type: ignore[union-attr]
        d = best.faults_saved_per_boot
        assert d is not None and best.base_retried is not None
        real = d.mean > rules["noise_sigmas"] * d.stdev and d.low > 0 and d.mean > 0
        full = best.vcpus >= claim["vcpus"] and best.mem_mb >= claim["mem_mb"]
        big = d.mean >= rules["reproduced_share"] * claimed
        per_mb = (d.mean / data_mb) if data_mb and best.guest != "diskless" else None
        scale = (f"; {per_mb:.0f} saved per MB the guest reads through swiotlb, so "
                 f"{claimed:g} corresponds to about {claimed / per_mb:.0f} MB bounced at boot"
                 if per_mb and per_mb > 0 else "")
        match_retried = abs(d.mean - best.base_retried.mean) <= max(
            rules["noise_sigmas"] * d.stdev, 0.05 * max(best.base_retried.mean, 1))
        mech = ("the saving equals the base kernel's retried faults"
                if match_retried else
                f"the saving ({d.mean:g}) differs from the base's retried faults "
                f"({best.base_retried.mean:g})")
        if real and big and full:
            verdict, reason = "reproduced", f"measured at the claimed size; {mech}{scale}"
        elif real and big:
            verdict, reason = ("reproduced", f"reached at a reduced size ({best.vcpus} vCPU, "
                               f"{best.mem_mb} MB instead of {claim['vcpus']} vCPU, "
                               f"{claim['mem_mb']} MB); {mech}{scale}")
        elif real and d.mean < rules["partly_share"] * claimed:
            verdict = "not reproduced"
            reason = (f"a real but negligible saving of {d.mean:g} per boot "
                      f"({d.mean / claimed:.1%} of the claim); {mech}{scale}"
                      + ("" if full else f"; measured at {best.vcpus} vCPU, {best.mem_mb} MB"))
        elif real:
            verdict = "partly"
            reason = (f"a real saving of {d.mean:g} per boot (noise ±{d.stdev:g}), "
                      f"{d.mean / claimed:.0%} of the claim; {mech}{scale}"
                      + ("" if full else f"; measured at {best.vcpus} vCPU, {best.mem_mb} MB"))
        else:
            verdict = "not reproduced"
            reason = (f"saving {d.mean:g} is within the run-to-run noise (±{d.stdev:g}, low "
                      f"bound {d.low:g})" + ("" if full else
                                            f"; measured at {best.vcpus} vCPU, "
                                            f"{best.mem_mb} MB"))
        if claim.get("approximation"):
            reason += f"; {claim['approximation']}"
            if verdict == "reproduced":
                verdict = "partly"
        out.append(ClaimVerdict(
            id=claim["id"], statement=claim["statement"], claimed=claimed,
            claim_config=claim["claim_config"],
            our_config=(f"{best.firmware}, THP {best.thp}, {best.vcpus} vCPU, "
                        f"{best.mem_mb} MB, guest {best.guest}"
                        + (f" ({data_mb} MB read)" if data_mb else "")),
            measured=d.mean, measured_detail="; ".join(_describe(c, data_mb) for c in same),
            verdict=verdict, reason=reason))
    return out
