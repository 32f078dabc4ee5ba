-- The HTML page runs this after the selection (selection.sql, classes.sql): its sections by
-- domain, sender and readiness all read `source_classes`, so it is worked out once into a
-- temp table and the view is pointed at that, instead of each section classifying every
-- record again.
CREATE OR REPLACE TEMP TABLE source_classes_snapshot AS FROM source_classes;
CREATE OR REPLACE TEMP VIEW source_classes AS FROM source_classes_snapshot;
