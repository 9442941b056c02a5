"""Endpoints and properties the CRM source reads (HubSpot CRM v3 and the local server alike)."""

SEARCH_PATH = "crm/v3/objects/{object_type}/search"
# HubSpot pages a search at most this far; the paginator restarts the search beyond it.
SEARCH_RESULT_CEILING = 10_000
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for search
CURSOR_PROPERTY = "lastmodifieddate"
INITIAL_MODIFIED_AFTER = "1970-01-01T00:00:00.000Z"

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "jobtitle",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "hubspot_owner_id",
    "hs_email_optout",
    "associatedcompanyid",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
]
COMPANY_PROPERTIES = [
    "name",
    "domain",
    "industry",
    "city",
    "country",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
]
OBJECTS = {"contacts": CONTACT_PROPERTIES, "companies": COMPANY_PROPERTIES}
# HubSpot names the modification-date property differently per object type.
CURSOR_PROPERTIES = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
