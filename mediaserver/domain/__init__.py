"""pt-BR post-processing of final transcripts: ITN, entities, hot words, redaction."""
