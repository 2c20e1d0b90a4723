package epay

import "strconv"

// ReasonText is what a reason code means, in English and Russian.
type ReasonText struct {
	EN string `json:"en"`
	RU string `json:"ru"`
}

// reasons is the positive reason-code table of ePay's mobile SDK. Negative codes have no
// public table and pass through.
var reasons = map[int]ReasonText{
	0:    {"Success", "Успешно"},
	455:  {"3-D Secure is unavailable", "3-D Secure недоступен"},
	457:  {"Wrong card expiry date", "Неверный срок действия карты"},
	458:  {"Server is not responding", "Сервер не отвечает"},
	459:  {"Server is not responding", "Сервер не отвечает"},
	460:  {"The amount may have been blocked", "Сумма могла быть заблокирована"},
	462:  {"Declined by the issuer", "Отказ банка-эмитента"},
	463:  {"Declined by the issuer", "Отказ банка-эмитента"},
	464:  {"Invalid merchant", "Недействительный продавец"},
	465:  {"Card is blocked", "Карта заблокирована"},
	466:  {"Declined by the issuer", "Отказ банка-эмитента"},
	467:  {"Card is blocked", "Карта заблокирована"},
	470:  {"Amount is zero", "Сумма равна нулю"},
	471:  {"No such card", "Нет такой карты"},
	472:  {"No such card", "Нет такой карты"},
	473:  {"3-D Secure check failed", "Ошибка проверки 3-D Secure"},
	476:  {"Retry in 30 minutes", "Повторите через 30 минут"},
	478:  {"Card has expired", "Срок действия карты истёк"},
	479:  {"Card is blocked", "Карта заблокирована"},
	481:  {"Card is reported lost", "Карта утеряна"},
	482:  {"Card is reported lost", "Карта утеряна"},
	483:  {"Card is reported stolen", "Карта украдена"},
	484:  {"Insufficient funds", "Недостаточно средств"},
	485:  {"Card has expired", "Срок действия карты истёк"},
	488:  {"Over the limit", "Превышен лимит"},
	489:  {"Card is blocked", "Карта заблокирована"},
	491:  {"Too many payments in a short time", "Превышен лимит частоты операций"},
	492:  {"Too many PIN tries", "Превышено число попыток ввода PIN"},
	493:  {"Issuer is unavailable", "Банк-эмитент недоступен"},
	494:  {"Issuer is unavailable", "Банк-эмитент недоступен"},
	498:  {"Payment with bonuses is unavailable", "Оплата бонусами недоступна"},
	504:  {"Timed out", "Истекло время ожидания"},
	1654: {"One-time password check failed", "Ошибка проверки одноразового пароля"},
	2740: {"More than 15 failed attempts in 30 days", "Более 15 неудачных попыток за 30 дней"},
	3298: {"Description is too long", "Слишком длинное описание"},
}

// Reason returns the meaning of an ePay reason code. For a code outside the table
// (negative codes among them) it returns a text that names the code, and false.
func Reason(code int) (ReasonText, bool) {
	if r, ok := reasons[code]; ok {
		return r, true
	}
	c := strconv.Itoa(code)
	return ReasonText{EN: "ePay reason code " + c, RU: "Код ePay " + c}, false
}
