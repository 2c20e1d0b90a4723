package epayapi

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// flexInt reads a number or a string holding one; null and "" are 0.
func flexInt(v json.RawMessage) (int64, error) {
	s, err := jsonscan.ScalarText(v)
	if err != nil || s == "" {
		return 0, err
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return 0, errors.New("not an integer: " + strconv.Quote(clip(s)))
	}
	return int64(f), nil
}

// flexBool reads true/false or "true"/"yes"/"1" (true) and "false"/"no"/"0"/"" (false).
func flexBool(v json.RawMessage) (bool, error) {
	s, err := jsonscan.ScalarText(v)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "true", "yes", "y", "1":
		return true, nil
	case "false", "no", "n", "0", "":
		return false, nil
	}
	return false, errors.New("not a boolean: " + strconv.Quote(clip(s)))
}
