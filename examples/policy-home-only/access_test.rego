package patronfed.access_test

import data.patronfed.access

test_home if access.decision.allow with input as {"subject": {"kind": "staff", "library_id": "L1"}, "resource": {"home_library_id": "L1"}}

test_other if not access.decision.allow with input as {"subject": {"kind": "staff", "library_id": "L2"}, "resource": {"home_library_id": "L1"}}
