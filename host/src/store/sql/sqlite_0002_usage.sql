-- v2: what a run used (JSON store::Usage), set when a run ends.
ALTER TABLE tasks ADD COLUMN usage TEXT;
