DROP TRIGGER IF EXISTS applications_changed ON applications;
DROP FUNCTION IF EXISTS portcullis_applications_changed();
