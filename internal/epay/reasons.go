package epay

import (
	"slices"
	"strconv"
)

// ReasonText is what a reason code means, in English, Russian and Kazakh.
type ReasonText struct {
	EN string `json:"en"`
	RU string `json:"ru"`
	KK string `json:"kk"`
}

// Finality says whether ePay calls a failure with this code final.
type Finality uint8

const (
	FinalityUnknown Finality = iota // the code is not in ePay's table (negative codes among them)
	Final                           // ePay: final
	NotFinal                        // ePay: not final, ask the payment/transfer status
)

// String returns "unknown", "final" or "not final".
func (f Finality) String() string {
	switch f {
	case FinalityUnknown:
		return "unknown"
	case Final:
		return "final"
	case NotFinal:
		return "not final"
	}
	return "Finality(" + strconv.Itoa(int(f)) + ")"
}

type reasonEntry struct {
	en, ru, kk string
	finality   Finality
}

// reasons is ePay's reason-code table, after its documentation page "kody-oshibok"
// (https://epayment.kz/en-US/docs/kody-oshibok, https://epayment.kz/docs/kody-oshibok,
// https://epayment.kz/kk/docs/kody-oshibok): the text of each code and whether ePay calls
// it final or "not final, you need to request payment/transfer status". The copies of
// those pages we hold (testdata/reasons) reach only part of the table: codes 0 and
// 454..466 in ru and kk, 454..479 in en. The rest comes from other sources, and the
// comment beside each entry names the source of its text and of its flag:
//
//	doc   the kody-oshibok page (testdata/reasons/{en,ru,kk}.txt)
//	sdk   Halyk's iOS SDK strings (github halyk/EpaySDK, Localizable.strings; no flags)
//	go    a third-party Go client's Russian texts (no flags)
//	ts    a third-party TypeScript integration's error map: a Russian text, shortened by
//	      its author, and an isFinal flag
//	py    a third-party Python integration's list of the codes the page calls "not final,
//	      request the payment status" (github boomboom0202/edx-platform,
//	      ektu-halyk-payments/halyk_payments/client.py, RETRYABLE_REASON_CODES): flags only
//	ours  written for this project: English and Kazakh for codes that only have a
//	      Russian text; a language whose sdk string is missing, "-" or in another language
//
// Where the page's languages disagree on a flag (459: final in en and ru, not final in
// kk) the table takes the safe reading, not final. Codes that no source flags got a flag
// of ours ("flag ours"): Final for a plain card or issuer decline (524, 2092), NotFinal
// for everything else, technical and system errors among them (504, 505, 703, 1612,
// 1636, 1654, 1759).
//
// Negative codes have no public table and pass through (Reason names them), but for -31,
// which the py source copies from the page's list of codes that are not final.
// 3298, once in this table, is not: none of the sources above lists it.
var reasons = map[int]reasonEntry{
	-31: { // en,ru,kk ours; flag py
		"Not final: the payment status needs to be requested",
		"Не финальный, необходимо запросить статус оплаты",
		"Түпкілікті емес, төлем мәртебесін сұрау қажет",
		NotFinal,
	},
	0: { // doc ru,kk; en ours (the en excerpt starts at 454); flag doc ru,kk
		"Success",
		"успех",
		"сәтті өтті",
		Final,
	},
	100: { // ru ts; en,kk ours; flag ts
		"System error. The payment status needs to be checked",
		"Системная ошибка. Необходимо проверить статус платежа",
		"Жүйелік қате. Төлем мәртебесін тексеру қажет",
		NotFinal,
	},
	293: { // ru ts; en,kk ours; flag ts
		"Technical error. Check the payment status",
		"Техническая ошибка. Проверьте статус платежа",
		"Техникалық қате. Төлем мәртебесін тексеріңіз",
		NotFinal,
	},
	454: { // doc en,ru,kk; flag doc (not final in all three)
		"The operation failed, please check the amount on the card is not blocked and try again later",
		"Операция не удалась, проверьте, не заблокирована ли сумма на карте и повторите попытку позже",
		"Операция сәтсіз аяқталды, картадағы соманың бұғатталмағанын тексеріңіз және әрекетті кейінірек қайталап көріңіз",
		NotFinal,
	},
	455: { // doc en,ru,kk; flag doc
		"3DSecure / Securecode verification is not available or you entered card number incorrectly. Try to use a different browser/device. If the error persists, reset the password",
		"Проверка 3DSecure/Securecode недоступна, либо неверно введен номер карты. Попробуйте воспользоваться другим браузером/устройством. Если ошибка повторяется, переустановите код",
		"3DSecure/Securecode-ты тексеру қол жетімді емес немесе карта нөмірі дұрыс енгізілмеген. Басқа браузерді/құрылғыны пайдаланып көріңіз. Егер қате қайталанса, кодты қайта орнатыңыз",
		Final,
	},
	456: { // doc en,ru,kk (the kk text says "payment by this card is impossible", unlike en/ru); flag doc
		"System error, please try again later, if error persist contact with merchant",
		"Системная ошибка, попробуйте позже, если ошибка сохраняется, обратитесь в компанию",
		"Бұл карта бойынша төлем жасау мүмкін емес",
		Final,
	},
	457: { // doc en,ru,kk; flag doc
		"Error in card expiration date field",
		"Некорректно введен срок действия карты",
		"Картаның қолданылу мерзімі дұрыс енгізілмеген",
		Final,
	},
	458: { // doc en,ru,kk; flag doc
		"Server is not responding",
		"Сервер не отвечает. Попробуйте попозже",
		"Сервер жауап бермей жатыр. Кейінірек әрекет жасап көріңіз",
		Final,
	},
	459: { // doc en,ru,kk (the kk text says "server not responding", unlike en/ru); flag doc: final in en,ru, not final in kk -> not final
		"Please check the card number you enter correctly and in the right field",
		"Проверьте корректность номера карты и что вы вводите его в правильное поле формы оплаты",
		"Сервер жауап бермей жатыр. Кейінірек әрекет жасап көріңіз",
		NotFinal,
	},
	460: { // doc en,ru,kk; flag doc
		"An error occurred, the payment amount may be blocked, please contact customer support.",
		"Произошла ошибка, возможно сумма заблокировалась на карте, обратитесь службу поддержки",
		"Қате орын алды, картада сома бұғатталған болуы мүмкін, қолдау қызметіне хабарласыңыз",
		Final,
	},
	461: { // doc en,ru,kk; flag doc
		"System error. Please try later. If this problem continues, please contact the customer support",
		"Системная ошибка, попробуйте провести транзакцию позже, если ошибка повторяется обратитесь в службу поддержки",
		"Жүйелік қате, кейінірек транзакция жасап көріңіз, егер қате қайталанса, қолдау қызметіне хабарласыңыз",
		Final,
	},
	462: { // doc en,ru,kk (kk verbatim, with the page's doubled "ТТ"); flag doc
		"Call your bank",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"ТТранзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	463: { // doc en,ru,kk; flag doc
		"Call your bank",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"Транзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	464: { // doc en,ru,kk; flag doc
		"Invalid merchant",
		"Недействительный коммерсант",
		"Бұндай коммерсант жоқ",
		Final,
	},
	465: { // doc en,ru,kk; flag doc
		"Your card is restricted",
		"Карта заблокирована",
		"Карта бұғатталған",
		Final,
	},
	466: { // doc en; ru,kk doc, cut on the page, completed with the same sentence as 463 (ru also = sdk); flag doc en
		"Transaction declined. Call your bank",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"Транзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	467: { // doc en; ru,kk sdk; flag doc en
		"Your card is disabled",
		"Карта заблокирована",
		"Карта оқшауланған",
		Final,
	},
	468: { // doc en; ru go,ts (the sdk's ru/kk say "server not responding", against the page); kk ours; flag doc en
		"Additional identification required",
		"Требуется дополнительная идентификация",
		"Қосымша сәйкестендіру қажет",
		Final,
	},
	469: { // doc en; ru,kk sdk; flag doc en
		"Invalid transaction",
		"Недействительная транзакция, перепроверить введенные данные",
		"Транзакция жарамсыз, енгізілген деректерді қайта тексеріңіз",
		Final,
	},
	470: { // doc en; ru,kk sdk; flag doc en
		"Invalid amount",
		"Сумма транзакции равно нулю, пожалуйста, попробуйте ещё раз",
		"Жарамсыз сома, сұраныстың сомасы нөлге тең",
		Final,
	},
	471: { // doc en; ru,kk sdk; flag doc en
		"No such card",
		"Недействительный номер карточки, пожалуйста, убедитесь в корректности ввода номера карты и попробуйте ещё раз",
		"Карточканың жарамсыз нөмірі, карточканың нөмірін қайта тексеру",
		Final,
	},
	472: { // doc en; ru,kk sdk; flag doc en
		"No such card",
		"Недействительный номер карточки, пожалуйста, убедитесь в корректности ввода номера карты и попробуйте ещё раз",
		"Карточканың жарамсыз нөмірі, карточканың нөмірін қайта тексеру",
		Final,
	},
	473: { // doc en; ru,kk sdk (ru verbatim but for a doubled space); flag doc en
		"Authentication failed (3DSecure/Securecode)",
		"3DSecure/Securecode введен или введен некорректно. Пожалуйста, убедитесь в корректности ввода, либо переустановите пароль. Если ошибка повторяется обратитесь в службу поддержки",
		"Авторизациялаудағы қателік (3DSecure/Securecode)",
		Final,
	},
	475: { // doc en; ru,kk sdk; flag doc en
		"Invalid response",
		"Транзакция не успешна. Пожалуйста, повторите снова",
		"Қате - қайталаңыз",
		Final,
	},
	476: { // doc en; ru,kk sdk; flag doc en
		"No action taken",
		"Повторное проведение транзакции будет доступно не менее чем через 30 минут",
		"Ешқандай әрекет қолданылмады",
		Final,
	},
	477: { // doc en; ru,kk sdk; flag doc en
		"Format error",
		"Ошибка, пожалуйста, воспользуйтесь другой картой. В случае её отсутствия обратитесь в службу поддержки по адресу help.epay@halykbank.kz",
		"Дұрыс емес шығыс деректер",
		Final,
	},
	478: { // doc en; ru,kk sdk; flag doc en
		"Expired card",
		"Просрочен срок действия карты",
		"Картаның жарамды мерзімі өтіп кеткен",
		Final,
	},
	479: { // doc en; ru,kk sdk; flag doc en
		"Restricted card",
		"Карточка заблокирована",
		"Карта оқшауланған",
		Final,
	},
	480: { // sdk en,ru,kk; flag ts
		"Call your bank",
		"Обратиться к банку - эмитенту",
		"Банк – эмитентке хабарласыңыз",
		Final,
	},
	481: { // sdk en,ru,kk; flag ts
		"Lost card",
		"Карта недействительна. Пожалуйста, обратитесь в Банк для выпуска новой карты",
		"Карточка жоғалған",
		Final,
	},
	482: { // sdk en,ru,kk; flag ts
		"Lost card",
		"Карта недействительна. Пожалуйста, обратитесь в Банк для выпуска новой карты",
		"Карточка жоғалған",
		Final,
	},
	483: { // sdk en,ru,kk; flag ts
		"Stolen card",
		"Статус карты - украдена. Пожалуйста, обратитесь в Банк для выпуска новой карты",
		"Карточка ұрланған",
		Final,
	},
	484: { // sdk en,ru,kk; flag ts
		"Not sufficient funds",
		"Недостаточно средств на карте",
		"Картада қаржы жетіспейді",
		Final,
	},
	485: { // sdk en,ru,kk; flag ts
		"Expired card",
		"Срок действия карты истек",
		"Картаның қолданылу мерзімі аяқталды",
		Final,
	},
	486: { // sdk en,ru,kk (kk: space added after a full stop); flag ts
		"Not permitted to client by Issuing bank. Call your bank.",
		"Транзакция отклонена. На карте запрещена возможность покупок в сети интернет, либо карточные данные введены не верно",
		"Карточканы ұстаушыға бас тартылды. Сіздің картаңызбен интернет сатып алуды жасауға болмайды. Өз банкіңізге хабарласыңыз. Немесе қате деректер енгізілген",
		Final,
	},
	487: { // sdk en,ru,kk; flag ts
		"Not permitted to merchant",
		"Транзакция отклонена, пожалуйста, обратитесь в службу поддержки",
		"Сатушыға бас тартылды. Кейінірек байқаңыз",
		Final,
	},
	488: { // sdk en,ru,kk; flag ts
		"Exceeds amount limit",
		"Сумма превышает допустимый лимит",
		"Сома мүмкін болатын шектелімнен асып түседі",
		Final,
	},
	489: { // sdk en,ru,kk; flag ts
		"Restricted card",
		"Карточка заблокирована",
		"Карта оқшауланған",
		Final,
	},
	490: { // sdk en,ru,kk (typos fixed: ru "укзанным", kk "салуған"); flag ts
		"The ban on the payments on your card, for more information, please contact customer support. Contact info is stated on the back of your card",
		"Запрет на проведение транзакции по вашей карте, за дополнительной информацией обратитесь по контактам, указанным на обратной стороне вашей карты.",
		"Сіздің картаңыздағы транзакцияға тыйым салынған, қосымша ақпарат алу үшін, сіздің картаңыздың артында көрсетілген контактілерге хабарласыңыз",
		Final,
	},
	491: { // sdk en,ru,kk; flag ts
		"Exceeds frequency limit",
		"Превышен лимит частоты оплат",
		"Ақшалай беру бойынша жиіліктің шектелімі асырылған",
		Final,
	},
	492: { // sdk en,ru,kk (ru typo "укзанным" fixed); flag ts
		"The card blocked due to incorrect entering pin-code. For the further information please contact customer support, contact info is stated on the back of your card",
		"Карта заблокирована по причине неверного ввода пин-кода, за дополнительной информацией обратитесь по контактам, указанным на обратной стороне вашей карты.",
		"PIN код дұрыс енгізілмегендіктен карточка блокталды, қосымша ақпарат алу үшін, сіздің картаңыздың артында көрсетілген контактілерге хабарласыңыз",
		Final,
	},
	493: { // sdk en,ru; kk ours (the sdk's kk string is the ru text); flag ts
		"Time-out at issuer system",
		"Недоступен банк, выпустивший карту, попробуйте повторить оплату позже",
		"Картаны шығарған банк қолжетімсіз, төлемді кейінірек қайталап көріңіз",
		Final,
	},
	494: { // sdk en,ru,kk; flag ts
		"Issuer unavailable",
		"Транзакция не успешна - банк, выпустивший карту, попробуйте провести транзакцию позже",
		"Эмитент қол жеткізілімсіз",
		Final,
	},
	495: { // sdk en,ru,kk; flag ts
		"The transaction is prohibited. Please use other card",
		"Транзакция запрещена, воспользуйтесь другой картой.",
		"Транзакцияға тыйым салынған, басқа картаны қолданыңыз",
		Final,
	},
	496: { // sdk en; ru sdk, cut before an internal note the sdk string carries, spaces fixed; kk ours (the sdk's kk string is the ru text); flag ts
		"3DSecure SecureCode absent",
		"Транзакция не успешна. Для карты Qazkom, Halyk - установите 3DSecure/Securecode в HOMEBANK.kz. Для других карт - обратитесь в банк, выпустивший карту",
		"Транзакция сәтсіз аяқталды. Qazkom, Halyk карталары үшін HOMEBANK.kz-те 3DSecure/Securecode орнатыңыз. Басқа карталар бойынша картаны шығарған банкке хабарласыңыз",
		Final,
	},
	497: { // sdk en,ru,kk; flag ts
		"Server is not responding. Please try later",
		"Сервер не отвечает. Попробуйте попозже",
		"Сервер жауап бермейді. Кейінірек байқап көріңіз",
		Final,
	},
	498: { // sdk en,ru; kk ours (the sdk's kk string is the ru text); flag ts
		"Payment with bonuses is not available. Please try again later",
		"Оплата бонусами невозможна. Попробуйте попозже",
		"Бонустармен төлеу мүмкін емес. Кейінірек қайталап көріңіз",
		Final,
	},
	499: { // ru go; en,kk ours; flag ts
		"3DSecure/SecureCode entered incorrectly or not entered",
		"Неверно введен или не введен 3DSecure/SecureCode",
		"3DSecure/SecureCode қате енгізілген немесе енгізілмеген",
		Final,
	},
	500: { // ru ts (the third-party Go client says "server not responding" instead); en,kk ours; flag ts
		"3DSecure verification is unavailable, try another internet connection",
		"Проверка 3DSecure недоступна, попробуйте сменить точку доступа в интернет",
		"3DSecure тексеруі қолжетімсіз, интернетке басқа желі арқылы қосылып көріңіз",
		Final,
	},
	501: { // ru go; en,kk ours; flag ts
		"Card service error. Check that the card details are entered correctly. If the error persists, contact customer support",
		"Ошибка обслуживания карты. Проверьте правильность ввода карты. Если ошибка повторяется, обратитесь в службу поддержки",
		"Картаға қызмет көрсету қатесі. Карта деректерінің дұрыс енгізілгенін тексеріңіз. Қате қайталанса, қолдау қызметіне хабарласыңыз",
		Final,
	},
	502: { // ru go,ts; en,kk ours (same words as 497/458); flag ts
		"Server is not responding. Please try later",
		"Сервер не отвечает. Попробуйте попозже",
		"Сервер жауап бермей жатыр. Кейінірек әрекет жасап көріңіз",
		Final,
	},
	503: { // ru ts (the third-party Go client says "server not responding" instead); en,kk ours; flag ts
		"The operation requires the 3DSecure password",
		"Операция требует обязательного использования 3DSecure пароля",
		"Операция үшін 3DSecure құпиясөзін міндетті түрде пайдалану қажет",
		Final,
	},
	504: { // ours en,ru,kk after the sdk's only string, "Timeout transaction" (en and kk are "-"); flag ours
		"Transaction timed out",
		"Истекло время ожидания транзакции",
		"Транзакцияның күту уақыты өтіп кетті",
		NotFinal,
	},
	505: { // sdk en,ru,kk; flag ours
		"You have exceeded the number of 3 transactions",
		"Вы превысили кол-во 3-х транзакции",
		"Сіз 3 транзакциядан асып кеттіңіз",
		NotFinal,
	},
	521: { // ru go (the same words as the page's 462/463 ru); en ours; kk ours (the page's 463 kk); flag ts
		"Transaction declined by your bank. To find out why, contact your bank using the details on the back of your card",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"Транзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	522: { // ru go,ts; en,kk ours; flag ts
		"Record not found, check the card",
		"Запись не найдена, проверьте карточку",
		"Жазба табылмады, картаны тексеріңіз",
		Final,
	},
	523: { // ru go (the same words as the page's 462/463 ru); en ours; kk ours (the page's 463 kk); flag ts
		"Transaction declined by your bank. To find out why, contact your bank using the details on the back of your card",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"Транзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	524: { // ru go; en,kk ours; flag ours (no source gives one; a card decline)
		"The card is invalid. Please contact your bank",
		"Карта недействительна. Пожалуйста, обратитесь в Банк",
		"Карта жарамсыз. Банкке хабарласыңыз",
		Final,
	},
	525: { // ru go; en,kk ours; flag ts
		"The card is invalid. Please contact your bank",
		"Карта недействительна. Пожалуйста, обратитесь в Банк",
		"Карта жарамсыз. Банкке хабарласыңыз",
		Final,
	},
	526: { // ru go; en,kk ours; flag ts
		"System error. Please try later. If the problem continues, contact customer support",
		"Системная ошибка. Пожалуйста, попробуйте позднее. Если эта проблема не исчезнет, обратитесь в службу поддержки",
		"Жүйелік қате. Кейінірек қайталап көріңіз. Мәселе шешілмесе, қолдау қызметіне хабарласыңыз",
		Final,
	},
	527: { // ru go (the same words as the page's 462/463 ru); en ours; kk ours (the page's 463 kk); flag ts
		"Transaction declined by your bank. To find out why, contact your bank using the details on the back of your card",
		"Транзакция отклонена вашим банком. Для уточнения причины отказа необходимо обратиться по контактам, указанным на обратной стороне вашей карты",
		"Транзакцияны сіздің банк қабылдамады. Бас тарту себебін нақтылау үшін картаңыздың артқы жағында көрсетілген байланыс деректері бойынша хабарласу қажет",
		Final,
	},
	528: { // ru go; en,kk ours; flag ts
		"The recipient card's daily limit of incoming transfers is exceeded; give another card for the transfer",
		"Превышен суточный лимит входящих переводов на карту получателя, предоставьте другую карту для перевода",
		"Алушы картасына түсетін аударымдардың тәуліктік лимиті асып кетті, аударым үшін басқа карта көрсетіңіз",
		Final,
	},
	529: { // ru ts; en,kk ours; flag ts
		"The terminal's daily limit is reached",
		"Сработал суточный лимит на терминале",
		"Терминалдың тәуліктік лимитіне жетті",
		Final,
	},
	690: { // en,ru,kk ours; flag py
		"Not final: the payment status needs to be requested",
		"Не финальный, необходимо запросить статус оплаты",
		"Түпкілікті емес, төлем мәртебесін сұрау қажет",
		NotFinal,
	},
	703: { // sdk en; ru,kk ours (the sdk's ru/kk strings are "Error"); flag ours
		"Error",
		"Ошибка",
		"Қате",
		NotFinal,
	},
	877: { // ru ts; en,kk ours; flag ts
		"Unable to complete the 3DSecure check",
		"Невозможно завершить проверку 3DSecure",
		"3DSecure тексеруін аяқтау мүмкін емес",
		Final,
	},
	1267: { // ru ts; en,kk ours; flag ts
		"Error communicating with the card system",
		"Ошибка связи с карточной системой",
		"Карта жүйесімен байланыс қатесі",
		NotFinal,
	},
	1268: { // ru ts; en,kk ours; flag ts
		"Technical error",
		"Техническая ошибка",
		"Техникалық қате",
		NotFinal,
	},
	1269: { // ru ts; en,kk ours; flag ts
		"Technical error",
		"Техническая ошибка",
		"Техникалық қате",
		NotFinal,
	},
	1563: { // ru ts; en,kk ours; flag ts
		"HTTP request failed",
		"Ошибка выполнения HTTP-запроса",
		"HTTP сұрауын орындау қатесі",
		NotFinal,
	},
	1564: { // ru ts; en,kk ours; flag ts
		"Received an HTTP response with an unexpected code",
		"Получен HTTP-ответ с неожиданным кодом",
		"Күтпеген кодпен HTTP жауабы алынды",
		NotFinal,
	},
	1612: { // sdk en,ru,kk; flag ours
		"The check on the permitted and prohibited countries of the merchant at the terminal has not been passed",
		"Не пройдена проверка по разрешенным и запрещенным странам коммерсанта на терминале",
		"Комерсант терминалында рұқсат етілген және тыйым салынған елдер тексеруінен өткен жоқ",
		NotFinal,
	},
	1636: { // sdk en,ru,kk; flag ours
		"Failed to establish the owner of the card",
		"Не удалось установить владельца карты",
		"Картаның иесі анықталмады",
		NotFinal,
	},
	1654: { // sdk en,ru,kk; flag ours
		"Failed to verify OTP code",
		"Не удалось верифицировать OTP код",
		"OTP коды расталмады",
		NotFinal,
	},
	1759: { // sdk ru; en,kk ours (the sdk's en/kk strings are the ru text); flag ours
		"The transaction could not be carried out",
		"Не удалось провести транзакцию",
		"Транзакцияны жүргізу мүмкін болмады",
		NotFinal,
	},
	2092: { // sdk en,ru,kk; flag ours
		"Unable to pay with this card",
		"Невозможно провести оплату по данной карте",
		"Бұл картамен төлеу мүмкін емес",
		Final,
	},
	2357: { // ru ts; en,kk ours; flag ts
		"The given IIN and phone number do not match",
		"Указанные ИИН и номер телефона не соответствуют друг другу",
		"Көрсетілген ЖСН мен телефон нөмірі бір-біріне сәйкес келмейді",
		Final,
	},
	2358: { // ru ts; en,kk ours; flag ts
		"Error getting the card information",
		"Ошибка при получении информации о карте",
		"Карта туралы ақпаратты алу кезінде қате шықты",
		NotFinal,
	},
	2656: { // ru ts; en,kk ours; flag ts
		"Technical error",
		"Техническая ошибка",
		"Техникалық қате",
		NotFinal,
	},
	2678: { // ru ts; en,kk ours; flag ts
		"The terminal's limit is reached",
		"Сработал лимит на терминале",
		"Терминалдың лимитіне жетті",
		Final,
	},
	2740: { // ru ts; en,kk ours; flag ts
		"Too many failed payment attempts",
		"Превышено количество неуспешных попыток оплат",
		"Сәтсіз төлем әрекеттерінің саны шектен асты",
		Final,
	},
	2872: { // ru ts; en,kk ours; flag ts
		"The bank returned a critical decline code; use another card",
		"Получен критичный код отказа от банка, воспользуйтесь другой картой",
		"Банктен сыни бас тарту коды алынды, басқа картаны пайдаланыңыз",
		Final,
	},
	3014: { // ru ts; en,kk ours; flag ts
		"System error",
		"Системная ошибка",
		"Жүйелік қате",
		NotFinal,
	},
	3141: { // ru ts; en,kk ours; flag ts
		"The contract's refund limit is reached",
		"На контракте сработал лимит для возврата",
		"Келісімшарт бойынша қайтару лимитіне жетті",
		Final,
	},
	3225: { // en,ru,kk ours; flag py
		"Not final: the payment status needs to be requested",
		"Не финальный, необходимо запросить статус оплаты",
		"Түпкілікті емес, төлем мәртебесін сұрау қажет",
		NotFinal,
	},
	3240: { // ru ts; en,kk ours; flag ts
		"Repeat the payment",
		"Повторите платеж",
		"Төлемді қайталаңыз",
		NotFinal,
	},
}

// reasonCodes is every code of the table, in ascending order.
var reasonCodes = func() []int {
	codes := make([]int, 0, len(reasons))
	for c := range reasons {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}()

// Reason returns the meaning of an ePay reason code. For a code outside the table
// (negative codes among them) it returns a text that names the code, in every
// language, and false.
func Reason(code int) (ReasonText, bool) {
	if r, ok := reasons[code]; ok {
		return ReasonText{EN: r.en, RU: r.ru, KK: r.kk}, true
	}
	c := strconv.Itoa(code)
	return ReasonText{EN: "ePay reason code " + c, RU: "Код ePay " + c, KK: "ePay коды " + c}, false
}

// ReasonFinality says whether ePay calls a failure with this code final. A code outside
// the table (negative codes among them) is FinalityUnknown.
func ReasonFinality(code int) Finality {
	return reasons[code].finality
}

// ReasonCodes returns every code of the table in ascending order (for docs and tests).
func ReasonCodes() []int {
	return slices.Clone(reasonCodes)
}
