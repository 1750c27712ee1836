"""DICOMweb front door (PS3.18): STOW-RS, QIDO-RS, WADO-RS. Parses the protocol, calls services, renders."""
