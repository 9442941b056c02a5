{#- Audit: every link merge protection refused in this run, with the rule that dropped it. -#}
select
    identifier_key_a,
    identifier_key_b,
    link_type,
    drop_rule,
    drop_detail,
    evidence_records,
    example_record_ref,
    match_probability
from {{ ref('identity_links') }}
where not is_used
