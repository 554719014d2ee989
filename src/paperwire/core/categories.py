"""arXiv's category taxonomy: the codes a category filter can name, in their canonical
spelling (``cs.cv`` is ``cs.CV``), and the closest code to a mistyped one."""

from __future__ import annotations

import difflib

from .edits import edit_distance

# Archive -> its categories (arxiv.org/category_taxonomy). An archive without any
# (hep-th, quant-ph, ...) is itself the category papers carry.
TAXONOMY: dict[str, tuple[str, ...]] = {
    "cs": tuple(
        "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA "
        "NE NI OH OS PF PL RO SC SD SE SI SY".split()
    ),
    "econ": ("EM", "GN", "TH"),
    "eess": ("AS", "IV", "SP", "SY"),
    "math": tuple(
        "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA "
        "RT SG SP ST".split()
    ),
    "astro-ph": ("CO", "EP", "GA", "HE", "IM", "SR"),
    "cond-mat": tuple(
        "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con".split()
    ),
    "nlin": ("AO", "CD", "CG", "PS", "SI"),
    "physics": tuple(
        "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph "
        "flu-dyn gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph "
        "space-ph".split()
    ),
    "q-bio": ("BM", "CB", "GN", "MN", "NC", "OT", "PE", "QM", "SC", "TO"),
    "q-fin": ("CP", "EC", "GN", "MF", "PM", "PR", "RM", "ST", "TR"),
    "stat": ("AP", "CO", "ME", "ML", "OT", "TH"),
    **{
        a: () for a in "gr-qc hep-ex hep-lat hep-ph hep-th math-ph nucl-ex nucl-th quant-ph".split()
    },
}

# Every code, archives included, by its lower-case spelling.
_CANONICAL: dict[str, str] = {a: a for a in TAXONOMY} | {
    f"{a}.{c}".lower(): f"{a}.{c}" for a, subs in TAXONOMY.items() for c in subs
}


def canonical(code: str) -> str:
    """The code as arXiv spells it when it is one of arXiv's, else as given (stripped)."""
    code = code.strip()
    return _CANONICAL.get(code.lower(), code)


def known(code: str) -> bool:
    """Whether arXiv has this category or archive (in any letter case)."""
    return code.strip().lower() in _CANONICAL


def is_archive(code: str) -> bool:
    """Whether a filter names a whole archive ("cs", "hep-th"), every category in it."""
    return "." not in code


def closest(code: str) -> str | None:
    """The arXiv code nearest a mistyped one (``cs.CVV`` -> ``cs.CV``, ``cs.VC`` -> ``cs.CV``),
    or None: fewest edits, two letters typed the wrong way round counting half an edit (the
    commonest slip, so ``cs.VC`` is ``cs.CV``, not ``cs.SC``); at most one edit in five
    letters, ties to the most similar by ``difflib``."""
    typed = code.strip().lower()
    if not typed or len(typed) > 40:
        return None
    allowed = max(1.0, len(typed) / 5)
    best: tuple[float, float, str] | None = None
    for known in _CANONICAL:
        if abs(len(known) - len(typed)) > allowed:
            continue
        cost = edit_distance(typed, known, swap=0.5)
        if cost > allowed:
            continue
        key = (cost, -difflib.SequenceMatcher(None, typed, known).ratio(), known)
        if best is None or key < best:
            best = key
    return _CANONICAL[best[2]] if best else None
