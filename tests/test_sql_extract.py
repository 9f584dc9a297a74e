"""SQL extraction from raw generations."""

from text2sql_cli.sql.extract import Extraction, extract_sql


def test_last_complete_sql_fence_wins():
    assert extract_sql("Here:\n```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```") == Extraction(
        "SELECT 2", "fence"
    )


def test_stop_marker_cuts_rambling_base_model():
    text = "SELECT name FROM players\n\n### SQL 봇:\nSELECT 2\n### SQL 봇:\nSELECT 3"
    assert extract_sql(text, stop=("###",)) == Extraction("SELECT name FROM players", "stop")


def test_first_top_level_semicolon_ends_the_query():
    assert extract_sql("SELECT a FROM t WHERE b = 'x;y'; SELECT 2") == Extraction(
        "SELECT a FROM t WHERE b = 'x;y'", "semicolon"
    )


def test_prose_is_extraction_failed():
    assert extract_sql("죄송합니다. 이 질문에는 답할 수 없습니다.") == Extraction(None, "failed")


def test_empty_generation_is_extraction_failed():
    assert extract_sql("   ").method == "failed"


def test_whole_text_when_nothing_to_cut():
    assert extract_sql("  SELECT 1 ") == Extraction("SELECT 1", "whole")
