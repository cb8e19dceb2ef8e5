"""The rule engine: load a rules file into a RuleSet, evaluate an event into a Decision."""
