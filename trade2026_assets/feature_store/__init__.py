"""The Feast feature store: what it holds (`frame`), its definitions (`definitions`, imports
Feast), its configuration that opens it (`store`, no Dagster), the Dagster resource around
that (`resource`) and the reader serving uses (`retrieval`). Importing Feast takes
seconds: only `definitions`, and functions that need a store, import it."""
