"""The Feast feature store: what it holds (`frame`), its definitions (`definitions`, imports
Feast), the resource that opens it and the reader serving uses. Importing Feast takes
seconds: only `definitions`, and functions that need a store, import it."""
