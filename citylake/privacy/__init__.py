"""Data-subject requests (PIPL Art. 44-47): locate, export, restrict, erase and verify, with a
hash-chained request ledger and a certificate per request. Subjects and what to look for are
citylake.lake.subjects; the suppression list that keeps erased people out of silver is
citylake.lake.suppression."""
