{#-
  Identifiers seen with more distinct persons than their type allows (`max_persons`): a family
  tablet used by two registered users, a front-desk email typed for many customers. "Persons"
  are counted per one-per-customer type (user id, CRM id, loyalty id) on the same records: the
  largest count of distinct values of any one such type. A shared identifier stops linking; its records stay, on their own.
-#}
with identifiers as (
    select record_ref, identifier_type, identifier_key
    from {{ ref('identity_identifiers') }}
    where not is_blocked
),

persons as (
    select record_ref, identifier_type as person_type, identifier_key as person_key
    from identifiers
    where identifier_type in ({{ identity_limited_type_list() }})
),

seen_per_type as (
    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        persons.person_type,
        count(distinct persons.person_key) as persons_seen,
        min(persons.person_key) as example_person_a,
        max(persons.person_key) as example_person_b
    from identifiers
    inner join persons on identifiers.record_ref = persons.record_ref
    where {{ identity_type_max_persons('identifiers.identifier_type') }} is not null
    group by identifiers.identifier_key, identifiers.identifier_type, persons.person_type
),

seen_with as (
    select
        *,
        row_number() over (partition by identifier_key order by persons_seen desc, person_type) as type_rank
    from seen_per_type
),

final as (
    select
        identifier_key,
        identifier_type,
        persons_seen,
        person_type as counted_type,
        {{ identity_type_max_persons('identifier_type') }} as max_persons,
        example_person_a,
        example_person_b
    from seen_with
    where type_rank = 1 and persons_seen > {{ identity_type_max_persons('identifier_type') }}
)

select * from final
