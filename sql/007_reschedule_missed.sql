-- A missed round is never sent automatically, but an approver may give it a new instant:
-- it goes back to planned and through pre-flight and approval again.
INSERT INTO round_transitions (from_state, to_state) VALUES ('missed', 'planned');
