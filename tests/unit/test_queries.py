"""Named parameters of wide queries (storage/queries.py): declared once in the .sql file, checked
at load against the `$n` they use, and bound by keyword only."""

from __future__ import annotations

import re

import pytest

from storage.queries import Q, Queries, Query


def test_a_wide_query_binds_keywords_in_declared_order():
    assert Q.audit_insert.params == ("now", "actor", "action", "campaign_id", "round_id", "detail")
    assert Q.audit_insert.bind(detail={}, round_id=2, campaign_id=1, action="a", actor="U1", now="t") == ("t", "U1", "a", 1, 2, {})


def test_a_missing_or_unknown_keyword_is_refused_before_the_database():
    with pytest.raises(TypeError, match=r"missing \['detail'\], unknown \['details'\]"):
        Q.audit_insert.bind(now="t", actor="U1", action="a", campaign_id=1, round_id=2, details={})


def test_a_declaration_that_disagrees_with_the_sql_fails_at_load(tmp_path):
    with pytest.raises(ValueError, match="declares 2 params but uses \\$3"):
        Query("SELECT $1, $2, $3", "q", ("a", "b"))
    (tmp_path / "x.sql").write_text("-- name: q\n-- params: a\nSELECT $1, $2;\n", encoding="utf-8")
    with pytest.raises(ValueError, match="declares 1 params"):
        Queries(tmp_path)


def test_every_query_with_more_than_five_parameters_declares_them():
    wide = [name for name in Q.names() if isinstance(getattr(Q, name), str)
            and max((int(n) for n in re.findall(r"\$(\d+)", getattr(Q, name))), default=0) > 5]
    assert wide == []
