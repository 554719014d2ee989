"""Two-factor sign-in: who has it on (with their sealed TOTP secret), the last time step a
code was accepted for, and single-use recovery codes. Every "use once" is one conditional
UPDATE, so that two requests racing with the same code cannot both win."""

from __future__ import annotations

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.twofactor import TwoFactor
from . import schema as t
from .common import Repository

F, R = t.two_factor, t.recovery_codes


class TwoFactorRepo(Repository):
    def get(self, user_id: int) -> TwoFactor | None:
        """The user's second factor with how many recovery codes are left; None when off."""
        left = (
            sa.select(sa.func.count())
            .where(R.c.user_id == F.c.user_id, R.c.used_at.is_(None))
            .scalar_subquery()
        )
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(F, left.label("recovery_left")).where(F.c.user_id == user_id)
            ).first()
        if row is None:
            return None
        return TwoFactor(**row._mapping)

    def enabled(self, user_id: int) -> bool:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(F.c.user_id).where(F.c.user_id == user_id)).first()
        return row is not None

    def enable(self, user_id: int, secret_sealed: str, step: int, code_hashes: list[str]) -> bool:
        """Turn it on with a confirmed secret (``step``: the confirming code's, used up) and
        fresh recovery codes; False when it already was on."""
        now = utcnow()
        with self.db.begin() as conn:
            res = conn.execute(
                self.db.insert(F)
                .on_conflict_do_nothing()
                .values(
                    user_id=user_id,
                    secret_sealed=secret_sealed,
                    enabled_at=now,
                    last_step=step,
                    signins=0,
                )
                .returning(F.c.user_id)
            )
            if res.first() is None:
                return False
            self._replace_codes(conn, user_id, code_hashes)
        return True

    def disable(self, user_id: int) -> bool:
        """Turn it off and forget the secret and every recovery code."""
        with self.db.begin() as conn:
            conn.execute(R.delete().where(R.c.user_id == user_id))
            res = conn.execute(F.delete().where(F.c.user_id == user_id))
        return res.rowcount == 1

    def use_step(self, user_id: int, step: int) -> bool:
        """Accept a code of time step ``step`` once: False when a code of this step or a
        later one was accepted already (a replayed or older code)."""
        with self.db.begin() as conn:
            res = conn.execute(
                F.update()
                .where(
                    F.c.user_id == user_id,
                    sa.or_(F.c.last_step.is_(None), F.c.last_step < step),
                )
                .values(last_step=step)
            )
        return res.rowcount == 1

    def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        """Spend a recovery code: False when it is not one of the user's, or used already."""
        with self.db.begin() as conn:
            res = conn.execute(
                R.update()
                .where(R.c.user_id == user_id, R.c.code_hash == code_hash, R.c.used_at.is_(None))
                .values(used_at=utcnow())
            )
        return res.rowcount == 1

    def replace_recovery_codes(self, user_id: int, code_hashes: list[str]) -> bool:
        """New recovery codes (the old ones, used or not, stop working); False when two-factor
        sign-in is off."""
        with self.db.begin() as conn:
            on = conn.execute(sa.select(F.c.user_id).where(F.c.user_id == user_id)).first()
            if on is None:
                return False
            self._replace_codes(conn, user_id, code_hashes)
        return True

    def _replace_codes(self, conn: sa.Connection, user_id: int, code_hashes: list[str]) -> None:
        conn.execute(R.delete().where(R.c.user_id == user_id))
        now = utcnow()
        if code_hashes:
            conn.execute(
                R.insert(),
                [{"user_id": user_id, "code_hash": h, "created_at": now} for h in code_hashes],
            )

    def finish_signin(self, user_id: int, signins: int) -> bool:
        """Count a completed second step, once per token: the token carries the count it was
        issued at, and only the first request with it moves the count on."""
        with self.db.begin() as conn:
            res = conn.execute(
                F.update()
                .where(F.c.user_id == user_id, F.c.signins == signins)
                .values(signins=F.c.signins + 1)
            )
        return res.rowcount == 1
